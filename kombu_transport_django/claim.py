"""Claiming ready messages: one statement (or one short transaction) a batch.

Every vendor gets the same contract: among the ready, due, unexpired rows of
the given queues, take up to ``limit`` in delivery order (priority, then
``available_at``, then id), lease them to ``token`` and return them. Rows are
never locked while a task runs: the lease is a column, not a lock.

- PostgreSQL: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
  RETURNING`` (one round trip, consumers never wait on each other).
- MySQL >= 8.0.1 / MariaDB >= 10.6: ``SELECT … FOR UPDATE SKIP LOCKED`` then
  ``UPDATE`` in one transaction (MySQL has no ``UPDATE … RETURNING``).
- SQLite: the same ``UPDATE … RETURNING``, in autocommit, without ``SKIP
  LOCKED``. SQLite has one writer at a time, and a writing statement takes
  the write lock before it reads anything (waiting for it under the busy
  timeout, on a fresh snapshot), so two consumers can never both read the
  same row as ready (the double delivery of kombu's old Django transport).
  No ``BEGIN IMMEDIATE``/``COMMIT`` around it: the one statement is its
  own transaction, while the explicit transaction held the write lock
  across two returns to Python in a threaded worker (docs/benchmarks.md,
  "SQLite: the claim as one statement"). A plain read comes first, so an
  idle poll never takes the write lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from . import writeturn
from .models import Message

READY = Message.Status.READY
LEASED = Message.Status.LEASED


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    id: int
    queue: str
    payload: str
    delivery_count: int


def check_supported(connection: BaseDatabaseWrapper) -> None:
    """Raise ``ImproperlyConfigured`` unless the database can claim safely."""
    if connection.vendor in ("postgresql", "sqlite"):
        return
    if connection.features.has_select_for_update_skip_locked:
        return
    version = ".".join(str(part) for part in getattr(connection, "mysql_version", ()) or ())
    raise ImproperlyConfigured(
        f"The django:// transport needs SELECT … FOR UPDATE SKIP LOCKED, which database "
        f"{connection.alias!r} ({connection.display_name} {version}) lacks. Use PostgreSQL, "
        f"MySQL >= 8.0.1, MariaDB >= 10.6 or SQLite, or point the transport option "
        f"'database' at such a database."
    )


def _order_sql(priority_reverse: bool) -> str:
    return f"priority {'ASC' if priority_reverse else 'DESC'}, available_at ASC, id ASC"


def _where_sql(n_queues: int) -> str:
    placeholders = ", ".join(["%s"] * n_queues)
    return (
        f"queue IN ({placeholders}) AND status = {int(READY)} AND available_at <= %s "
        f"AND (expires_at IS NULL OR expires_at > %s)"
    )


def _ready_sql(
    table: str, queues: Sequence[str], columns: str, order: str, now: Any, limit: int
) -> tuple[str, list[Any]]:
    """A locking SELECT of ``columns`` of up to ``limit`` ready rows of ``queues`` in delivery order, and its parameters.

    One queue: one ordered read of the claim index. Several: one such read
    per queue, each locking at most ``limit`` rows, merged in delivery
    order. ``queue IN (…)`` cannot be read from the index in that order:
    PostgreSQL and MariaDB sorted every ready row of those queues for each
    claim (85 ms and 530 ms with 100,000 ready messages in each of two
    queues, against 2 ms for one). The rows a queue's read locked beyond
    the ``limit`` kept are free again when the claim commits. (Not for
    SQLite, which has no SKIP LOCKED and reads several queues in order.)
    """
    queues = list(dict.fromkeys(queues))
    where = _where_sql(1)
    if len(queues) == 1:
        return (f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT %s FOR UPDATE SKIP LOCKED",
                [queues[0], now, now, limit])
    # Each read in a subquery of its own: PostgreSQL allows no FOR UPDATE in a UNION's branch itself.
    branch_sql = (f"(SELECT * FROM (SELECT {columns}, priority, available_at FROM {table} WHERE {where} "
                  f"ORDER BY {order} LIMIT %s FOR UPDATE SKIP LOCKED) AS one_queue)")
    union_sql = " UNION ALL ".join([branch_sql] * len(queues))
    return (f"SELECT {columns} FROM ({union_sql}) AS ready ORDER BY {order} LIMIT %s",
            [*(p for queue in queues for p in (queue, now, now, limit)), limit])


def claim(
    connection: BaseDatabaseWrapper,
    queues: Sequence[str],
    token: str,
    limit: int,
    now: dt.datetime,
    leased_until: dt.datetime,
    priority_reverse: bool = False,
) -> list[ClaimedRow]:
    """Lease up to ``limit`` ready messages of ``queues`` to ``token``."""
    if not queues or limit <= 0:
        return []
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(Message._meta.db_table)
    where = _where_sql(len(queues))
    order = _order_sql(priority_reverse)
    select_params: list[Any] = [*queues, adapt(now), adapt(now)]
    lease_params: list[Any] = [int(LEASED), token, adapt(leased_until)]
    # started_at: a row requeued after its run was marked started (a reject
    # from a worker that then died, a dead row requeued by a person) starts afresh
    set_sql = ("status = %s, lease_owner = %s, leased_until = %s, started_at = NULL, "
               "delivery_count = delivery_count + 1")

    if connection.vendor in ("postgresql", "sqlite"):
        if (connection.vendor == "sqlite" and not connection.in_atomic_block
                and not _sqlite_any_ready(connection, table, where, select_params)):
            return []
        if connection.vendor == "postgresql":
            select_sql, select_params = _ready_sql(table, queues, "id", order, adapt(now), limit)
        else:
            # SQLite reads several queues in order from the claim index itself
            # (and has one writer at a time and no SKIP LOCKED: none is needed).
            select_sql = f"SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT %s"
            select_params = [*select_params, limit]
        sql = f"UPDATE {table} SET {set_sql} WHERE id IN ({select_sql}) RETURNING id, queue, payload, delivery_count"
        # fetchall() is part of it: SQLite runs RETURNING's UPDATE row by row.
        # Not prepared on the server (kombu_transport_django.prepared): after
        # five runs PostgreSQL may keep one plan for any values, made while
        # the queue was small, and that plan scanned the whole table once
        # it had grown (docs/benchmarks.md, "Where the server's CPU goes in
        # a drain, by connection; the claim, prepared: not kept").
        with writeturn.turn(connection), connection.cursor() as cursor:
            cursor.execute(sql, [*lease_params, *select_params])
            rows = cursor.fetchall()
    else:
        check_supported(connection)
        select_sql, select_params = _ready_sql(table, queues, "id, queue, payload, delivery_count", order,
                                               adapt(now), limit)
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(select_sql, select_params)
            found = cursor.fetchall()
            if found:
                ids = [row[0] for row in found]
                cursor.execute(
                    f"UPDATE {table} SET {set_sql} WHERE id IN ({', '.join(['%s'] * len(ids))})",
                    [*lease_params, *ids],
                )
            rows = [(i, q, p, count + 1) for i, q, p, count in found]

    claimed = [ClaimedRow(int(r[0]), r[1], r[2], int(r[3])) for r in rows]
    # RETURNING gives no order; the callers deliver in queue order.
    return claimed


def _sqlite_any_ready(connection: BaseDatabaseWrapper, table: str, where: str, params: list[Any]) -> bool:
    """A read first: an idle poll then takes no write lock (WAL readers never wait)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1", params)
        return cursor.fetchone() is not None


def next_due(
    connection: BaseDatabaseWrapper, queues: Sequence[str], now: dt.datetime
) -> dt.datetime | None:
    """When the earliest not-yet-due ready message of ``queues`` becomes due.

    An idle consumer asks this at every poll (each second on PostgreSQL),
    so it must not grow with the queue. The claim index orders a queue's
    ready rows by priority first: the earliest ``available_at`` is looked
    up once per priority present, each step one index lookup (the next
    lower priority, then its first row not yet due). Ordering all ready
    rows by ``available_at`` read every one of them: 14 ms per poll on
    PostgreSQL, 35 ms on MariaDB, 25 ms on SQLite with 100,000 messages
    scheduled ahead (0.5 ms now; docs/benchmarks.md).
    """
    found: list[dt.datetime] = []
    for queue in dict.fromkeys(queues):
        ready = Message.objects.using(connection.alias).ready().filter(queue=queue)
        priority = ready.order_by("-priority").values_list("priority", flat=True).first()
        while priority is not None:
            due = (ready.filter(priority=priority, available_at__gt=now).order_by("available_at")
                   .values_list("available_at", flat=True).first())
            if due is not None:
                found.append(due)
            priority = (ready.filter(priority__lt=priority).order_by("-priority")
                        .values_list("priority", flat=True).first())
    return min(found, default=None)
