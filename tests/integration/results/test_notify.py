"""PostgreSQL: a ready result wakes its waiters through NOTIFY (migrations 0002 and 0006)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection

from celery_compat import states
from celery_compat.backends.waiting import CHANNEL, WAITERS_TABLE, PgResultWaiter
from kombu_transport_django.notify import Listener
from tests.unit.results.contract import write_later

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's"),
]


def listeners(settle: float = 2.0) -> int:
    """Sessions whose last statement was our LISTEN (a closed one may linger a moment)."""
    deadline = time.monotonic() + settle
    while True:
        with connection.cursor() as cursor:
            # Only this database's sessions: other runs may share the server.
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s AND datname = current_database()",
                           [f'LISTEN "{CHANNEL}"'])
            count = cursor.fetchone()[0]
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_the_trigger_is_installed() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'celery_compat_taskresult'::regclass "
                       "AND NOT tgisinternal")
        assert [name for (name,) in cursor.fetchall()] == ["celery_compat_taskresult_notify"]


def test_a_ready_result_wakes_the_waiter_of_that_task(app: Any) -> None:
    waiter = PgResultWaiter(connection.alias)
    try:
        assert waiter.wait("n-1", 5) == 0.0  # connects and LISTENs
        thread = write_later(app.backend, 0.2, "n-1", 1, states.SUCCESS)
        waited = waiter.wait("n-1", 10)
        thread.join()
    finally:
        waiter.close()

    assert 0.1 < waited < 3


def test_other_tasks_and_unready_states_do_not_wake_it(app: Any) -> None:
    waiter = PgResultWaiter(connection.alias)
    try:
        waiter.wait("n-2", 5)
        other = write_later(app.backend, 0.05, "someone-else", 1, states.SUCCESS)
        progress = write_later(app.backend, 0.1, "n-2", {"step": 1}, "PROGRESS")
        waited = waiter.wait("n-2", 0.6)
        other.join()
        progress.join()
    finally:
        waiter.close()

    assert waited >= 0.6


def test_get_reads_again_only_when_notified(app: Any) -> None:
    reads: list[str] = []
    read = app.backend._get_task_meta_for

    def counting_read(task_id: str) -> dict[str, Any]:
        reads.append(task_id)
        return read(task_id)

    app.backend._get_task_meta_for = counting_read
    thread = write_later(app.backend, 1.0, "n-3", "done", states.SUCCESS)
    started = time.monotonic()
    try:
        assert app.AsyncResult("n-3").get(timeout=30, interval=5) == "done"
    finally:
        thread.join()

    # Before LISTEN, right after it, and when notified; polling would have
    # read 5 times in that second, and the interval alone would wait 5 s.
    assert len(reads) == 3
    assert time.monotonic() - started < 4
    assert listeners() == 0


def _notified(listener: Listener, seconds: float) -> list[str]:
    """Every payload the raw listener receives within ``seconds``."""
    payloads: list[str] = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        received = listener.receive(remaining)
        if received is None:
            break
        payloads += received
    return payloads


def test_only_results_somebody_waits_for_are_notified(app: Any) -> None:
    """A NOTIFY slows every committing worker: none for the results nobody waits for (migration 0006)."""
    listener = Listener(connection.alias, CHANNEL)
    listener.connect()
    waiter = PgResultWaiter(connection.alias)
    try:
        app.backend.store_result("nobody-waits", 1, states.SUCCESS)
        assert _notified(listener, 0.5) == []

        assert waiter.wait("somebody-waits", 5) == 0.0  # registers it
        app.backend.store_result("somebody-waits", 1, states.SUCCESS)
        assert _notified(listener, 3) == ["somebody-waits"]
    finally:
        waiter.close()
        listener.close()


def _waits() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT task_id, waiter FROM {WAITERS_TABLE} ORDER BY task_id")
        return [tuple(row) for row in cursor.fetchall()]


def test_a_waiter_removes_its_registrations_and_a_crashed_ones_expire() -> None:
    with connection.cursor() as cursor:  # what a waiter killed two days ago left
        cursor.execute(f"INSERT INTO {WAITERS_TABLE} (task_id, waiter, since) "
                       "VALUES ('crashed', 'gone', now() - interval '2 days')")
    waiter = PgResultWaiter(connection.alias)
    try:
        waiter.wait("w-1", 5)
        waiter.wait("w-2", 5)
        assert _waits() == [("w-1", waiter.token), ("w-2", waiter.token)]
    finally:
        waiter.close()
    assert _waits() == []
    assert listeners() == 0
