from __future__ import annotations

from typing import Any, Callable

import pytest
from kombu import Connection, Exchange, Producer, Queue

from tests.helpers.fixtures import connection_factory  # noqa: F401  (fixture)

# Every test here claims rows, and claims commit: no wrapping test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conn(connection_factory: Callable[..., Connection]) -> Connection:  # noqa: F811
    return connection_factory()


@pytest.fixture
def publish(conn: Connection) -> Callable[..., None]:
    """Publish ``body`` to queue ``name`` (declared on first use)."""

    def send(name: str, body: Any, **kwargs: Any) -> None:
        queue = Queue(name, Exchange(name, "direct"), routing_key=name)
        Producer(conn.default_channel).publish(
            body, exchange=queue.exchange, routing_key=name, declare=[queue], **kwargs
        )

    return send
