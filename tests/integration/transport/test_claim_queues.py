"""A claim from several queues at once (a worker with ``-Q a,b``), on every vendor.

The claim takes the first rows of all its queues together in delivery order
(priority, then ``available_at``, then id), leases only ``limit`` of them,
and on PostgreSQL and MariaDB reads each queue from the claim index, so a
large backlog does not make every claim sort all of it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from kombu_transport_django import claim as claims
from kombu_transport_django import publish
from kombu_transport_django.models import Message

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)

READY = Message.Status.READY
LEASED = Message.Status.LEASED


def _insert(rows: list[tuple[str, int, dt.datetime]]) -> None:
    """Ready messages (queue, priority, available_at); their task ids count from 0 in this order."""
    now = timezone.now()
    publish.insert(connection, [
        publish.NewMessage(queue=queue, payload="{}", priority=priority, available_at=at, expires_at=None,
                           created_at=now, task_id=f"t{n}", task_name="n")
        for n, (queue, priority, at) in enumerate(rows)
    ])


def _claim(queues: list[str], limit: int, using: str = "default", priority_reverse: bool = False,
           priorities: dict[str, list[int]] | None = None) -> list[str]:
    now = timezone.now()
    rows = claims.claim(connections[using], queues, "token", limit, now, now + dt.timedelta(seconds=30),
                        priority_reverse, priorities)
    return sorted(Message.objects.get(id=row.id).task_id for row in rows)


def test_several_queues_give_their_first_rows_together_in_delivery_order() -> None:
    old = timezone.now() - dt.timedelta(minutes=10)
    _insert([
        ("a", 0, old + dt.timedelta(seconds=1)),  # t0
        ("b", 0, old),                            # t1: older than t0
        ("a", 5, old + dt.timedelta(seconds=9)),  # t2: a higher priority first
        ("b", 5, old + dt.timedelta(seconds=8)),  # t3
        ("c", 9, old),                            # t4: a queue not claimed from
        ("b", 0, old + dt.timedelta(seconds=2)),  # t5
        ("a", 0, old + dt.timedelta(seconds=3)),  # t6
    ])

    assert _claim(["a", "b"], 3) == ["t1", "t2", "t3"]
    # Only those three were leased: the rest wait, unleased, for the next claim.
    assert sorted(Message.objects.filter(status=LEASED).values_list("task_id", flat=True)) == ["t1", "t2", "t3"]
    assert Message.objects.filter(status=READY, lease_owner__isnull=True).count() == 4
    assert _claim(["a", "b"], 2) == ["t0", "t5"]
    assert _claim(["b", "a", "b"], 5) == ["t6"]
    assert _claim(["a", "b"], 5) == []
    assert Message.objects.get(task_id="t4").status == READY


def test_several_queues_with_priority_reverse() -> None:
    old = timezone.now() - dt.timedelta(minutes=10)
    _insert([("a", 9, old), ("b", 0, old + dt.timedelta(seconds=5)), ("a", 3, old), ("b", 3, old + dt.timedelta(seconds=1))])

    assert _claim(["a", "b"], 2, priority_reverse=True) == ["t1", "t2"]
    assert _claim(["a", "b"], 1, priority_reverse=True) == ["t3"]


@pytest.mark.parametrize("per_priority", [False, True])
def test_claims_from_several_queues_at_once_never_take_a_row_twice(per_priority: bool) -> None:
    old = timezone.now() - dt.timedelta(minutes=10)
    total = 600
    _insert([("abc"[n % 3], n % 4, old + dt.timedelta(milliseconds=n)) for n in range(total)]
            # scheduled ahead, not taken
            + [("a", 2, timezone.now() + dt.timedelta(hours=1)) for _ in range(100)])
    # per priority: c's list stale on purpose (its other priorities come through the gaps)
    priorities = {"a": [3, 2, 1, 0], "b": [3, 2, 1, 0], "c": [2]} if per_priority else None
    taken: Counter[str] = Counter()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def take() -> None:
        try:
            start.wait()
            empty = 0
            while empty < 3:  # a claim can come back empty while others hold the last rows
                got = _claim(["a", "b", "c"], 7, priorities=priorities)
                empty = 0 if got else empty + 1
                taken.update(got)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert len(taken) == total and set(taken.values()) == {1}, taken.most_common(3)
    assert Message.objects.filter(status=LEASED).count() == total


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite reads several queues in order from the index")
def test_each_queue_is_read_from_the_claim_index() -> None:
    """Not every ready row sorted: ``queue IN (…)`` cannot give delivery order from the index."""
    old = timezone.now() - dt.timedelta(minutes=10)
    _insert([("ab"[n % 2], 0, old + dt.timedelta(milliseconds=n)) for n in range(20_000)])
    table = connection.ops.quote_name(Message._meta.db_table)
    sql, params = claims._ready_sql(table, ["a", "b"], "id", claims._order_sql(False),
                                    connection.ops.adapt_datetimefield_value(timezone.now()), 8)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {'' if connection.vendor == 'postgresql' else 'TABLE '}{table}")
        if connection.vendor != "postgresql":
            cursor.fetchall()
        cursor.execute("EXPLAIN " + sql, params)
        plan: list[Any] = cursor.fetchall()
        names = [column[0] for column in cursor.description]
    if connection.vendor == "postgresql":
        text = "\n".join(row[0] for row in plan)
        assert "Seq Scan" not in text, text
        assert text.count("Index Scan using django_kombu_msg_claim") == 2, text
    else:
        steps = [dict(zip(names, row)) for row in plan]
        reads = [step for step in steps if step["table"] == Message._meta.db_table]
        assert len(reads) == 2, steps
        assert all(step["key"] == "django_kombu_msg_claim" and step["type"] != "ALL" for step in reads), steps


def _expected(rows: list[tuple[str, int, dt.datetime]], queues: list[str], due_by: dt.datetime,
              priority_reverse: bool = False) -> list[str]:
    """Task ids of the due rows of ``queues`` in delivery order (ties in due time: publish order)."""
    due = [(priority, at, n) for n, (queue, priority, at) in enumerate(rows) if queue in queues and at <= due_by]
    due.sort(key=lambda r: (r[0] if priority_reverse else -r[0], r[1], r[2]))
    return [f"t{n}" for _, _, n in due]


@pytest.mark.parametrize("priority_reverse", [False, True])
@pytest.mark.parametrize("known", [None, "exact", "stale"])
def test_reads_per_priority_take_the_same_rows_in_the_same_order(known: str | None, priority_reverse: bool) -> None:
    now = timezone.now()
    rows = [("ab"[n % 2], (0, 3, 3, 5, 9, 0)[n % 6], now + dt.timedelta(seconds=(n * 7919) % 600 - 300))
            for n in range(300)]
    _insert(rows)
    priorities = {"exact": {"a": [9, 5, 3, 0], "b": [9, 5, 3, 0]},
                  # seen before new priorities came: every one is still read (the gaps)
                  "stale": {"a": [5], "b": []},
                  None: None}[known]
    expected = _expected(rows, ["a", "b"], now, priority_reverse)
    assert len(expected) > 100
    taken: list[str] = []
    while True:
        got = claims.claim(connection, ["a", "b"], "token", 7, now, now + dt.timedelta(seconds=30),
                           priority_reverse, priorities)
        if not got:
            break
        # within one claim the rows come in no order (RETURNING); the batches follow delivery order
        batch = {Message.objects.get(id=row.id).task_id for row in got}
        assert batch == set(expected[len(taken):len(taken) + len(got)])
        taken += sorted(batch, key=expected.index)
    assert taken == expected


def test_slow_claims_in_a_row_make_the_next_ones_read_per_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    now = timezone.now()
    _insert([("a", 0, now - dt.timedelta(minutes=1)), ("a", 4, now + dt.timedelta(hours=1))])
    statements: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    def claim_once(claimer: claims.Claimer) -> list[claims.ClaimedRow]:
        statements.clear()
        with connection.execute_wrapper(wrapper):
            return claimer.claim(connection, ["a"], "token", 8, timezone.now(), now + dt.timedelta(seconds=30))

    monkeypatch.setattr(claims, "SLOW_CLAIM", 60.0)
    steady = claims.Claimer()
    assert len(claim_once(steady)) == 1 and not steady.by_priority
    assert not any("priority = %s" in sql for sql in statements)

    monkeypatch.setattr(claims, "SLOW_CLAIM", 0.0)  # every claim counts as slow
    switched = claims.Claimer()
    for _ in range(claims.SLOW_CLAIMS_IN_A_ROW - 1):
        assert claim_once(switched) == [] and not switched.by_priority  # slow once: could be anything
    assert claim_once(switched) == [] and switched.by_priority
    _insert([("a", 4, now - dt.timedelta(minutes=1))])
    assert len(claim_once(switched)) == 1
    assert any("priority = %s" in sql for sql in statements), statements
    assert _lookups(statements)  # the priorities present: looked up, then used for PRIORITIES_FOR seconds
    assert claim_once(switched) == []
    assert any("priority = %s" in sql for sql in statements) and not _lookups(statements), statements


def test_a_fast_claim_between_slow_ones_starts_the_count_again(monkeypatch: pytest.MonkeyPatch) -> None:
    now = timezone.now()
    claimer = claims.Claimer()
    for slow in [True] * (claims.SLOW_CLAIMS_IN_A_ROW - 1) + [False] + [True] * (claims.SLOW_CLAIMS_IN_A_ROW - 1):
        monkeypatch.setattr(claims, "SLOW_CLAIM", 0.0 if slow else 60.0)
        claimer.claim(connection, ["a"], "token", 8, now, now + dt.timedelta(seconds=30))
        assert not claimer.by_priority
    claimer.claim(connection, ["a"], "token", 8, now, now + dt.timedelta(seconds=30))
    assert claimer.by_priority


def _lookups(statements: list[str]) -> list[str]:
    """The ORM's lookups of a queue's priorities (``claims.priorities``) among ``statements``."""
    return [sql for sql in statements if sql.startswith(('SELECT "django_kombu_message"."priority" AS',
                                                         "SELECT `django_kombu_message`.`priority` AS"))]


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="rows read: PostgreSQL's EXPLAIN ANALYZE (MariaDB counts no rows its index filter skips)")
def test_reads_per_priority_pass_no_message_scheduled_for_later() -> None:
    now = timezone.now()
    _insert([("a", n % 2, now + dt.timedelta(hours=1, seconds=n)) for n in range(5_000)]
            + [("a", 1, now - dt.timedelta(minutes=1)), ("a", 0, now - dt.timedelta(minutes=1))])
    table = connection.ops.quote_name(Message._meta.db_table)
    moment = connection.ops.adapt_datetimefield_value(now)
    order = claims._order_sql(False)

    def looked_at(node: dict[str, Any]) -> int:
        own = node.get("Actual Rows", 0) * node.get("Actual Loops", 1) + node.get("Rows Removed by Filter", 0)
        return (own if "Scan" in node["Node Type"] else 0) + sum(looked_at(child) for child in node.get("Plans", []))

    def read(priorities: dict[str, list[int]] | None) -> int:
        """Rows the claim's SELECT looked at."""
        sql, params = claims._ready_sql(table, ["a"], "id", order, moment, 8, priorities)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        return looked_at((plan[0] if isinstance(plan, list) else plan)["Plan"])

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    plain = read(None)
    per_priority = read({"a": claims.priorities(connection, "a")})
    assert plain > 2_000, plain  # the setup shows what it guards against
    assert per_priority < 50, per_priority
