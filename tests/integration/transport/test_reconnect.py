"""The database drops our connection: kombu sees a connection error, then recovers."""

from __future__ import annotations

from typing import Callable

import pytest
from django.db import connection
from kombu import Connection, Exchange, Producer, Queue

from tests.helpers.sessions import terminate_all_sessions_from_a_thread

from .conftest import pytestmark  # noqa: F401

server_only = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite has no server connection to kill"
)


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
    assert terminate_all_sessions_from_a_thread() >= 1

    with pytest.raises(conn.connection_errors):
        channel.basic_get("rc")
    # kombu's ensure/reconnect loop would now retry; so do we, by hand.
    Producer(channel).publish("two", exchange=queue.exchange, routing_key="rc", declare=[queue])
    assert channel.basic_get("rc").payload == "two"
