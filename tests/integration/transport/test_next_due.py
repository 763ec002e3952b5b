"""When an idle consumer's next scheduled message comes due (``claim.next_due``), on every vendor.

Asked at every idle poll: the answer must be right across priorities and
queues, and come from index lookups whose number does not grow with the
queue (it read every ready row before).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kombu_transport_django import claim as claims
from kombu_transport_django.models import Message

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)
from .test_claim_queues import _insert

NOW = timezone.now()


def _schedule(rows: list[tuple[str, int, dt.timedelta]]) -> None:
    """Ready messages (queue, priority, due in from NOW); task ids t0, t1, … in this order."""
    _insert([(queue, priority, NOW + due_in) for queue, priority, due_in in rows])


def test_the_earliest_scheduled_message_across_priorities_and_queues() -> None:
    minute = dt.timedelta(minutes=1)
    _schedule([
        ("a", 9, 30 * minute),
        ("a", 0, 20 * minute),
        ("a", 5, -minute),       # due already: the claim's, not this
        ("b", 3, 10 * minute),
        ("b", 3, 5 * minute),    # t4: the earliest of a and b
        ("c", 0, minute),        # a queue not asked about
        ("a", 5, 40 * minute),
    ])
    assert claims.next_due(connection, ["a"], NOW) == NOW + 20 * minute
    assert claims.next_due(connection, ["a", "b"], NOW) == NOW + 5 * minute
    assert claims.next_due(connection, ["b", "a", "b"], NOW) == NOW + 5 * minute
    # Leased (claimed) rows are no longer waiting to come due.
    Message.objects.filter(task_id="t4").update(status=Message.Status.LEASED)
    assert claims.next_due(connection, ["a", "b"], NOW) == NOW + 10 * minute
    assert claims.next_due(connection, ["a", "b"], NOW + 35 * minute) == NOW + 40 * minute
    assert claims.next_due(connection, ["a", "b"], NOW + 50 * minute) is None
    assert claims.next_due(connection, ["empty"], NOW) is None
    assert claims.next_due(connection, [], NOW) is None


def _plan(sql: str, params: Any) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("EXPLAIN " + sql, params)
        rows = cursor.fetchall()
        if connection.vendor == "postgresql":
            return "\n".join(row[0] for row in rows)
        names = [column[0] for column in cursor.description]
        return "\n".join(f"type={step['type']} key={step['key']}" for step in (dict(zip(names, r)) for r in rows))


def test_a_few_index_lookups_however_many_messages_wait() -> None:
    hour = dt.timedelta(hours=1)
    _schedule([("a", n % 3, hour + dt.timedelta(seconds=n)) for n in range(5_000)])
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(Message._meta.db_table)
        cursor.execute(f"ANALYZE {'TABLE ' if connection.vendor == 'mysql' else ''}{table}")
        if connection.vendor == "mysql":
            cursor.fetchall()

    with CaptureQueriesContext(connection) as captured:
        assert claims.next_due(connection, ["a"], NOW) == NOW + hour
    # Three priorities present: the first, then per priority its earliest and the next lower one.
    assert len(captured.captured_queries) == 1 + 2 * 3, captured.captured_queries
    compiler_sql = [q["sql"] for q in captured.captured_queries]
    for sql in compiler_sql:
        # Logged with their values inlined: EXPLAIN them as run.
        plan = _plan(sql, None)
        if connection.vendor == "postgresql":
            assert "Seq Scan" not in plan and "Sort" not in plan and "django_kombu_msg_claim" in plan, (sql, plan)
        elif connection.vendor == "sqlite":
            assert "SCAN" not in plan and "TEMP B-TREE" not in plan and "django_kombu_msg_claim" in plan, (sql, plan)
        else:
            assert "type=ALL" not in plan and "key=django_kombu_msg_claim" in plan, (sql, plan)
