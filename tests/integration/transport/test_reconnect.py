"""The database drops our connection: kombu sees a connection error, then recovers."""

from __future__ import annotations

from typing import Callable

import pytest
from django.db import connection, connections
from kombu import Connection, Exchange, Producer, Queue

from .conftest import pytestmark  # noqa: F401

server_only = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite has no server connection to kill"
)


def kill_other_connections() -> int:
    """Terminate every other session on the test database, as a restart would."""
    with connections["default"].cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]
        cursor.execute(
            "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        )
        ids = [row[0] for row in cursor.fetchall()]
        for pid in ids:
            cursor.execute(f"KILL CONNECTION {int(pid)}")
        return len(ids)


@server_only
def test_consumer_reports_a_connection_error_then_recovers(
    connection_factory: Callable[..., Connection],
) -> None:
    conn = connection_factory()
    channel = conn.default_channel
    queue = Queue("rc", Exchange("rc", "direct"), routing_key="rc")
    Producer(channel).publish("one", exchange=queue.exchange, routing_key="rc", declare=[queue])
    assert channel.basic_get("rc").payload == "one"

    # The test's own statements run on another thread's connection.
    import threading

    killed: list[int] = []
    thread = threading.Thread(target=lambda: (killed.append(kill_other_connections()), connections.close_all()))
    thread.start()
    thread.join()
    assert killed[0] >= 1

    with pytest.raises(conn.connection_errors):
        channel.basic_get("rc")
    # kombu's ensure/reconnect loop would now retry; so do we, by hand.
    Producer(channel).publish("two", exchange=queue.exchange, routing_key="rc", declare=[queue])
    assert channel.basic_get("rc").payload == "two"
