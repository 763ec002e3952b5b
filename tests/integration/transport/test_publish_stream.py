"""A buffered publish on PostgreSQL sends each full batch as it fills (psycopg 3's pipeline mode).

Inside a transaction the publishes are inserted together anyway
(``kombu_transport_django.deferred``, which sends each ``SEND_ROWS`` in
pipeline mode); a group outside a transaction gets one of its own, and in
it the server inserts one batch of ``publish.BATCH_ROWS`` rows while the
caller builds the next, so its messages commit together. These tests look
at what that must not change: the rows and their order, what others see and
when, what an error leaves behind, and Django's transactions inside the block.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator

import psycopg
import pytest
from django.db import DatabaseError, connection, connections, transaction
from kombu import Connection

from celery_compat import Celery, group, signals
from kombu_transport_django import publish as publish_rows
from kombu_transport_django.models import Message
from tests.helpers.sessions import terminate_all_sessions_from_a_thread

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)
from .test_publish_rows import FIELDS, _rows, _send

ROWS = publish_rows.BATCH_ROWS + 250  # one full batch sent while the block runs, the rest at its end


@pytest.fixture(autouse=True)
def _postgresql_with_pipelines() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pipeline mode is PostgreSQL's (psycopg 3)")
    connection.ensure_connection()
    if not hasattr(connection.connection, "pipeline") or not psycopg.Pipeline.is_supported():
        pytest.skip("this psycopg/libpq has no pipeline mode")


def _seen_by_another_session() -> int:
    """Rows of the message table visible from a session of its own (a thread's, as a worker would see them)."""
    seen: list[int] = []

    def count() -> None:
        try:
            seen.append(Message.objects.count())
        finally:
            connections.close_all()  # this thread's session

    thread = threading.Thread(target=count)
    thread.start()
    thread.join()
    return seen[0]


def test_inside_a_transaction_the_batches_reach_the_server_before_the_block_ends(conn: Connection) -> None:
    _send(conn, ROWS, "one")  # one publish each, for comparison
    channel = conn.default_channel
    with transaction.atomic():
        with channel.buffered_publish():
            _send(conn, ROWS, "many")
            # The transaction's own publishes are inserted together (.deferred),
            # the block adds nothing: the rows go before the query. Visible
            # to this transaction...
            assert Message.objects.filter(task_id__startswith="many-").count() == ROWS
            assert _seen_by_another_session() == ROWS  # ... but to nobody else before the commit
        assert _seen_by_another_session() == ROWS
    assert _seen_by_another_session() == 2 * ROWS

    one, many = _rows("one"), _rows("many")
    id_at = FIELDS.index("task_id")
    assert [r[id_at] for r in many] == [f"many-{n}" for n in range(ROWS)]  # in publish order
    assert [r[:id_at] + r[id_at + 1:] for r in many] == [r[:id_at] + r[id_at + 1:] for r in one]


def test_outside_a_transaction_a_plain_block_waits_for_its_end_and_commits_each_batch(conn: Connection) -> None:
    channel = conn.default_channel
    with channel.buffered_publish():
        _send(conn, ROWS, "plain")
        assert not channel._streaming  # no transaction to stream in, none made for the caller's block
        assert not Message.objects.exists()
    assert len(_rows("plain")) == ROWS


def test_a_rolled_back_transaction_takes_the_streamed_batches_with_it(conn: Connection) -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        with conn.default_channel.buffered_publish():
            _send(conn, ROWS, "gone")
        1 / 0
    assert not Message.objects.exists()


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("stream", set_as_current=False)
    app.conf.broker_url = "django://"

    @app.task(name="stream.add")
    def add(x: int, y: int) -> int:
        return x + y

    yield app
    app.close()


@pytest.fixture
def at_publish() -> Iterator[dict[int, Any]]:
    """Callbacks run by ``before_task_publish`` at the n-th message of the test (0-based)."""
    calls: dict[int, Any] = {}
    count = [0]

    def receiver(sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
        n = count[0]
        count[0] += 1
        if n in calls:
            calls[n]()

    signals.before_task_publish.connect(receiver, weak=False)
    yield calls
    signals.before_task_publish.disconnect(receiver)


def test_a_group_outside_a_transaction_commits_its_messages_together(app: Celery, at_publish: dict[int, Any]) -> None:
    add = app.tasks["stream.add"]
    seen: list[tuple[int, int]] = []
    at_publish[ROWS - 1] = lambda: seen.append((Message.objects.count(), _seen_by_another_session()))
    result = group(add.s(n, n) for n in range(ROWS)).apply_async()
    assert seen == [(publish_rows.BATCH_ROWS, 0)]  # a full batch had been sent, not committed
    ids = list(Message.objects.order_by("id").values_list("task_id", flat=True))
    assert ids == [r.id for r in result.results]  # every message, in the group's order
    assert not connection.in_atomic_block


def test_a_django_transaction_inside_a_streamed_group_is_a_savepoint(app: Celery, at_publish: dict[int, Any]) -> None:
    add = app.tasks["stream.add"]

    def write_and_roll_back() -> None:
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            Message.objects.filter(task_id="nothing").update(task_name="x")
            1 / 0

    at_publish[publish_rows.BATCH_ROWS + 10] = write_and_roll_back
    group(add.s(n, n) for n in range(ROWS)).apply_async()
    assert Message.objects.count() == ROWS


def test_an_error_inside_a_streamed_group_keeps_what_was_published_before_it(app: Celery) -> None:
    add = app.tasks["stream.add"]
    unstorable = object()  # not JSON: the encode of this message raises
    tasks = [add.s(n, n) for n in range(ROWS)] + [add.s(unstorable, 1), add.s(0, 0)]
    with pytest.raises(Exception, match="object"):
        group(tasks).apply_async()
    assert Message.objects.count() == ROWS  # as Celery and an unbuffered publish: those before it were sent
    assert not connection.in_atomic_block


def test_a_session_lost_in_a_streamed_group_raises_and_commits_nothing(app: Celery, at_publish: dict[int, Any]) -> None:
    add = app.tasks["stream.add"]
    at_publish[publish_rows.BATCH_ROWS + 10] = terminate_all_sessions_from_a_thread
    # The database's error, as when the block's last INSERTs fail without streaming.
    with pytest.raises(DatabaseError, match="closed the connection"):
        group(add.s(n, n) for n in range(ROWS)).apply_async()
    connection.close()
    assert Message.objects.count() == 0  # the first batch had been sent: rolled back with the rest
