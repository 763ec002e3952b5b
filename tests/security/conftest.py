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
