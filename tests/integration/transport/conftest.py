from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from kombu import Connection, Exchange, Producer, Queue

# Every test here claims rows, and claims commit: no wrapping test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connection_factory() -> Iterator[Callable[..., Connection]]:
    """``django://`` kombu connections, closed at teardown."""
    opened: list[Connection] = []

    def make(**transport_options: Any) -> Connection:
        conn = Connection("django://", transport_options=transport_options)
        conn.connect()
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.release()


@pytest.fixture
def conn(connection_factory: Callable[..., Connection]) -> Connection:
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
