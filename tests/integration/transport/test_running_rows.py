"""Early ack on ``django://``: the running row, its reaping, and a start refused.

Run on every vendor (DATABASE_URL). The worker-level behaviour is in
tests/chaos/test_delivery_points.py (real runworker processes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from django.utils import timezone
from kombu import Connection

from kombu_transport_django import leases
from kombu_transport_django.models import Message
from kombu_transport_django.signals import running_lost
from kombu_transport_django.transport import _row_id

from tests.helpers.e2e import wait_until

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)
from .test_contract import get


def _gone() -> bool:
    return not Message.objects.exists()


def test_start_keeps_the_row_running_and_finish_deletes_it(
    conn: Connection, publish: Any
) -> None:
    publish("q", {"n": 1})
    message = get(conn, "q")
    qos = conn.default_channel.qos

    assert qos.ack_started(message.delivery_tag) is True
    row = Message.objects.get()
    assert (row.status, row.lease_owner, row.is_running) == (
        Message.Status.LEASED,
        leases.process_token(),
        True,
    )
    # On PostgreSQL written by the database's clock (leases._NOW_SQL).
    assert abs(row.started_at - timezone.now()) < dt.timedelta(seconds=5), (row.started_at, timezone.now())
    # Given back at a close: a running row is not the channel's to give back.
    conn.default_channel.release_leases()
    assert Message.objects.get().is_running

    qos.ack_finished(message.delivery_tag)
    # Deleted by this process's keeper thread, off the caller's thread.
    wait_until("the running row deleted", _gone, 30)


def test_ended_runs_are_deleted_in_batches_and_a_closing_channel_deletes_the_rest(
    conn: Connection, publish: Any
) -> None:
    for n in range(20):
        publish("q", {"n": n})
    channel = conn.default_channel
    messages = [get(conn, "q") for _ in range(20)]
    for message in messages:
        assert channel.qos.ack_started(message.delivery_tag) is True
    keeper = leases.RunningKeeper.get(channel.options)
    # Held back so the keeper cannot take them before the close below.
    with keeper._deleting:
        for message in messages:
            channel.qos.ack_finished(message.delivery_tag)
        assert Message.objects.running().count() == 20
        assert keeper.pending() == 20
    # One DELETE for all that ended: the keeper wakes and takes them together,
    # unless the close below is first (it deletes them in this thread).
    channel.close()
    assert keeper.pending() == 0
    assert not Message.objects.exists()


def test_a_start_is_refused_once_the_lease_was_given_back(
    conn: Connection, publish: Any
) -> None:
    publish("q", {"n": 1})
    message = get(conn, "q")
    conn.default_channel.release_leases()  # what the consumer's close does on a reconnect

    assert conn.default_channel.qos.ack_started(message.delivery_tag) is False
    assert (
        Message.objects.get().status == Message.Status.READY
    )  # delivered again, not run here


def test_giving_leases_back_without_the_table_logs_instead_of_raising(
    conn: Connection, publish: Any, caplog: Any
) -> None:
    """The way out (a close, the exit finalizer) may find the tables dropped: a test database."""
    from django.db import connection

    publish("q", {"n": 1})
    get(conn, "q")
    table = Message._meta.db_table
    with connection.schema_editor() as editor:
        editor.alter_db_table(Message, table, "gone_kombu_message")
    try:
        with caplog.at_level("WARNING", logger="kombu_transport_django.transport"):
            assert conn.default_channel.release_leases() == 0
    finally:
        with connection.schema_editor() as editor:
            editor.alter_db_table(Message, "gone_kombu_message", table)
    assert "they will lapse" in caplog.text
    assert Message.objects.get().status == Message.Status.LEASED  # left to lapse


def _reap_announced(conn: Connection) -> list[Any]:
    """Reap now; the lost runs ``running_lost`` announced."""
    received: list[Any] = []

    def receiver(sender: Any, using: str, runs: list[Any], **kwargs: Any) -> None:
        received.extend(runs)

    running_lost.connect(receiver, dispatch_uid="test-running-rows")
    try:
        leases.reap(conn.default_channel.options.database, timezone.now(), None)
    finally:
        running_lost.disconnect(dispatch_uid="test-running-rows")
    return received


def test_a_lapsed_running_row_is_kept_dead_and_announced(
    conn: Connection, publish: Any
) -> None:
    publish("q", {"n": 1})
    message = get(conn, "q")
    assert conn.default_channel.qos.ack_started(message.delivery_tag) is True
    # The process holding it "died": its lease is no longer renewed.
    Message.objects.update(leased_until=timezone.now() - dt.timedelta(seconds=1))
    received = _reap_announced(conn)

    row = Message.objects.get()
    assert row.status == Message.Status.DEAD and row.dead_reason.startswith(
        "WorkerLostError:"
    )
    assert [run.id for run in received] == [row.id]
    assert received[0].owner == leases.process_token()

    # It had in fact ended here (an outage kept its lease from being renewed):
    # the run's end removes the wrong dead row.
    conn.default_channel.qos.ack_finished(message.delivery_tag)
    wait_until("the dead row deleted", _gone, 30)


def test_threads_starting_their_first_tasks_at_once_share_one_process_token() -> None:
    """Pool threads start at the same moment: one token, else rows of a losing token are never deleted."""
    import threading

    from kombu_transport_django import leases

    for _ in range(50):
        leases._process_token = None
        barrier = threading.Barrier(8)
        tokens: set[str] = set()

        def take() -> None:
            barrier.wait()
            tokens.add(leases.process_token())

        threads = [threading.Thread(target=take) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(tokens) == 1, tokens


def _set_columns(sql: str) -> set[str]:
    """The columns an ``UPDATE … SET a = …, b = … WHERE …`` statement sets."""
    assignments = sql.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return {part.split("=")[0].strip().strip('"`') for part in assignments.split(",")}


def test_the_start_sets_only_columns_that_are_in_no_index(conn: Connection, publish: Any) -> None:
    """So PostgreSQL can update the row in place (HOT) and InnoDB touches no secondary index."""
    from django.db import connection

    publish("q", {"n": 1})
    message = get(conn, "q")
    ticket = leases.prepare_start(conn.default_channel.options, _row_id(message.delivery_tag), conn.default_channel.token)
    leases.RunningKeeper.forget(ticket.row_id)
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Message._meta.db_table)
    indexed = {column for constraint in constraints.values() for column in constraint["columns"] or ()}
    assert {"queue", "status", "leased_until", "task_id"} <= indexed  # the introspection sees the indexes
    assert _set_columns(ticket.statement()[0]) == {"lease_owner", "started_at"}
    assert not _set_columns(ticket.statement()[0]) & indexed


def test_a_start_is_a_heap_only_update_on_postgresql(conn: Connection, publish: Any) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("HOT updates are PostgreSQL's")

    def hot_updates() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")  # this backend's counts, now
        with connection.cursor() as cursor:  # a new transaction: the flush ran at the end of the last one
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = %s",
                           [Message._meta.db_table])
            return int(cursor.fetchone()[0])

    for n in range(3):
        publish("q", {"n": n})
    messages = [get(conn, "q") for _ in range(3)]
    before = hot_updates()
    for message in messages:
        assert conn.default_channel.qos.ack_started(message.delivery_tag) is True
    # A few small rows on a page with room: each start is rewritten in place.
    wait_until("the starts counted as HOT updates", lambda: hot_updates() - before >= 3, 10)
    for message in messages:
        conn.default_channel.qos.ack_finished(message.delivery_tag)
    wait_until("the running rows deleted", _gone, 30)


def test_the_message_table_leaves_room_on_its_pages_on_postgresql() -> None:
    """Migration 0006: room for a start mark's new row version on the page of the old one."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("fillfactor is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [Message._meta.db_table])
        assert cursor.fetchone()[0] == ["fillfactor=80"]


def test_a_running_row_left_by_an_older_worker_is_still_kept_dead_when_it_lapses(
    conn: Connection, publish: Any
) -> None:
    """Workers before migration 0005 marked a started row ``RUNNING``; a deploy may leave some."""
    publish("q", {"n": 1})
    get(conn, "q")
    Message.objects.update(status=Message.Status.RUNNING, lease_owner="run:1:old@host",
                           leased_until=timezone.now() - dt.timedelta(seconds=1))
    assert Message.objects.running().count() == 1 and Message.objects.get().is_running
    received = _reap_announced(conn)
    row = Message.objects.get()
    assert (row.status, row.dead_reason.split(":")[0]) == (Message.Status.DEAD, "WorkerLostError")
    assert [(run.id, run.owner) for run in received] == [(row.id, "run:1:old@host")]


def test_a_started_row_given_back_is_delivered_again_unstarted(conn: Connection, publish: Any) -> None:
    """A row released after its start (the start committed, the task never ran) starts afresh."""
    publish("q", {"n": 1})
    message = get(conn, "q")
    channel = conn.default_channel
    assert channel.qos.ack_started(message.delivery_tag) is True
    assert leases.release(channel.options.database, _row_id(message.delivery_tag), channel.token) is True
    row = Message.objects.get()
    assert (row.status, row.started_at, row.lease_owner) == (Message.Status.READY, None, None)

    again = get(conn, "q")
    row = Message.objects.get()
    assert (row.status, row.started_at, row.lease_owner, row.delivery_count) == (
        Message.Status.LEASED, None, channel.token, 2)
    assert channel.qos.ack_started(again.delivery_tag) is True
    assert Message.objects.running().count() == 1
    channel.qos.ack_finished(again.delivery_tag)
    wait_until("the running row deleted", _gone, 30)
