"""The per-task statements, prepared on the server (:mod:`kombu_transport_django.prepared`).

Run on every vendor (DATABASE_URL): on PostgreSQL with psycopg 3 the
publish INSERT, the start mark, the ack and the result upsert (alone or
with the next start) are prepared, and nothing else; elsewhere the same
calls run through Django's cursor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu import Connection

from celery_compat import nextstart, states
from celery_compat.models import TaskResult
from kombu_transport_django import leases, prepared, publish
from kombu_transport_django.models import Message

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)
from .test_contract import get

POSTGRES = connection.vendor == "postgresql"

MESSAGES = connection.ops.quote_name(Message._meta.db_table)
RESULTS = connection.ops.quote_name(TaskResult._meta.db_table)
#: the start of each statement expected among the connection's prepared ones
PER_TASK = {
    "publish": f"INSERT INTO {MESSAGES}",
    "start": f"UPDATE {MESSAGES} SET lease_owner = $1, started_at = statement_timestamp()",
    "ack": f"DELETE FROM {MESSAGES} WHERE id = $1 AND lease_owner = $2",
    "result": f"INSERT INTO {RESULTS}",
    "result with the next start": f"WITH started AS (UPDATE {MESSAGES}",
}


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _per_task_statements(conn: Connection, publish_one: Any) -> None:
    """Every per-task statement once, on this thread's connection."""
    for n in range(3):
        publish_one("q", {"n": n})
    qos = conn.default_channel.qos
    started = get(conn, "q")
    assert qos.ack_started(started.delivery_tag) is True
    get(conn, "q").ack()
    ticket = qos.prepare_start(get(conn, "q").delivery_tag)
    with nextstart.offered("t1", lambda: ticket), nextstart.final_store("t1"):
        TaskResult.objects.write_result({"task_id": "t1", "status": states.SUCCESS, "result": "1"}, "default")
    TaskResult.objects.write_result({"task_id": "t2", "status": states.SUCCESS, "result": "2"}, "default")
    assert TaskResult.objects.filter(status=states.SUCCESS).count() == 2
    qos.ack_finished(started.delivery_tag)
    leases.RunningKeeper.forget(ticket.row_id)


def test_only_the_per_task_statements_are_prepared(conn: Connection, publish: Any) -> None:
    assert prepared.preparing(connection) is POSTGRES
    connection.close()  # a new session: no statement prepared yet
    _per_task_statements(conn, publish)
    if not POSTGRES:
        return
    statements = _prepared_statements()
    for what, start in PER_TASK.items():
        assert any(s.startswith(start) for s in statements), (what, statements)
    # Nothing else: the claim, the ORM's queries and the counts above stay Django's.
    assert all(any(s.startswith(start) for start in PER_TASK.values()) for s in statements), statements


def test_disable_server_side_cursors_turns_preparing_off(
    conn: Connection, publish: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Django's setting for PgBouncer in transaction pooling mode.
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    assert prepared.preparing(connection) is False
    connection.close()
    _per_task_statements(conn, publish)
    if POSTGRES:
        assert _prepared_statements() == []


def test_logged_queries_show_the_statements_with_their_values(conn: Connection, publish: Any) -> None:
    with CaptureQueriesContext(connection) as captured:
        publish("q", {"n": 1})
        assert conn.default_channel.qos.ack_started(get(conn, "q").delivery_tag) is True
    sql = [q["sql"] for q in captured.captured_queries]
    assert all(sql), sql
    token = leases.process_token()
    assert any("UPDATE" in s and token in s for s in sql), sql


def test_execute_wrappers_see_the_prepared_statements(conn: Connection, publish: Any) -> None:
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        publish("q", {"n": 1})
        assert conn.default_channel.qos.ack_started(get(conn, "q").delivery_tag) is True
    assert any(s.startswith("INSERT INTO") and "django_kombu_message" in s for s in seen), seen
    assert any(s.startswith("UPDATE") and "started_at" in s for s in seen), seen


def _message(priority: int = 0) -> publish.NewMessage:
    now = timezone.now()
    return publish.NewMessage(queue="q", payload="{}", priority=priority, available_at=now, expires_at=None,
                              created_at=now, task_id="t", task_name="n")


def test_errors_are_djangos_and_a_rolled_back_statement_runs_again() -> None:
    # A negative priority breaks the column's check (or range): Django's error class.
    with pytest.raises(DatabaseError) as raised:
        publish.insert(connection, [_message(priority=-1)])
    assert type(raised.value).__module__ == "django.db.utils", type(raised.value)

    # Prepared inside a transaction that rolled back: the statement stays usable.
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        publish.insert(connection, [_message()])
        1 / 0
    assert not Message.objects.exists()
    publish.insert(connection, [_message()])
    row = Message.objects.get()
    assert (row.queue, row.status, row.priority) == ("q", Message.Status.READY, 0)
    assert abs(row.available_at - timezone.now()) < dt.timedelta(seconds=5)
