from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from kombu import Connection


@pytest.fixture
def connection_factory() -> Iterator[Callable[..., Connection]]:
    """``django://`` kombu connections with the given transport options, closed at teardown."""
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
def app() -> Iterator[Any]:
    """A celery_compat app on the test database, with the fuzz tasks."""
    import tests.fuzz.tasks  # noqa: F401  registers the shared tasks
    from celery_compat import Celery, _state

    previous = getattr(_state._tls, "current_app", None)
    app = Celery("tests.security")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.worker_hijack_root_logger = False
    app.finalize()
    yield app
    app.close()
    _state._tls.current_app = previous
