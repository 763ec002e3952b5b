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

Several queues are read one by one and merged (:func:`_ready_sql`); while
many messages wait scheduled ahead, each priority too (:class:`Claimer`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from time import monotonic
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


def _priority_ranges(known: Sequence[int], order: str) -> list[tuple[str, str, list[Any]]]:
    """Reads covering every priority once: one per priority in ``known`` (highest first), one per gap.

    Each is (a condition to add, the read's order, its parameters). A
    priority's own read runs in due-time order, so it stops at its first
    row not yet due; a gap (priorities not seen when ``known`` was taken)
    is a bounded range of the index, empty unless a new priority came.
    """
    ranges: list[tuple[str, str, list[Any]]] = []
    above: int | None = None
    for priority in known:
        if above is None:
            ranges.append((" AND priority > %s", order, [priority]))
        elif above - priority > 1:
            ranges.append((" AND priority > %s AND priority < %s", order, [priority, above]))
        ranges.append((" AND priority = %s", "available_at ASC, id ASC", [priority]))
        above = priority
    if above is None:
        ranges.append(("", order, []))
    elif above > 0:  # priorities are never negative (a CHECK constraint)
        ranges.append((" AND priority < %s", order, [above]))
    return ranges


def _ready_sql(
    table: str,
    queues: Sequence[str],
    columns: str,
    order: str,
    now: Any,
    limit: int,
    priorities: dict[str, list[int]] | None = None,
    lock: bool = True,
) -> tuple[str, list[Any]]:
    """A SELECT of ``columns`` of up to ``limit`` ready rows of ``queues`` in delivery order, and its parameters.

    One queue: one ordered read of the claim index. Several: one such read
    per queue, each taking at most ``limit`` rows, merged in delivery
    order. ``queue IN (…)`` cannot be read from the index in that order:
    PostgreSQL and MariaDB sorted every ready row of those queues for each
    claim (85 ms and 530 ms with 100,000 ready messages in each of two
    queues, against 2 ms for one). ``lock``: each read takes its rows
    ``FOR UPDATE SKIP LOCKED``; those the merge does not keep are free
    again when the claim commits.

    ``priorities`` (queue to the priorities it has, highest first): one
    read per priority and per gap between them (:func:`_priority_ranges`).
    The index orders a queue's rows by priority, then due time, so one
    read over all priorities passes every row scheduled for later before
    it reaches the next priority or the end of the queue: 7–9 ms on
    PostgreSQL, 140–260 ms on MariaDB, 15 ms on SQLite for a claim that
    came back short with 100,000 messages scheduled ahead.
    """
    queues = list(dict.fromkeys(queues))
    where = _where_sql(1)
    lock_sql = " FOR UPDATE SKIP LOCKED" if lock else ""
    reads: list[tuple[str, str, str, list[Any]]] = []
    for queue in queues:
        if priorities is None:
            reads.append((queue, "", order, []))
        else:
            reads += [(queue, *read) for read in _priority_ranges(priorities.get(queue, ()), order)]
    if len(reads) == 1:
        queue, range_sql, read_order, extra = reads[0]
        return (f"SELECT {columns} FROM {table} WHERE {where}{range_sql} ORDER BY {read_order} LIMIT %s{lock_sql}",
                [queue, now, now, *extra, limit])
    # Each read in a subquery of its own: PostgreSQL allows no FOR UPDATE
    # in a UNION's member, SQLite no ORDER BY or LIMIT.
    union_sql = " UNION ALL ".join(
        f"SELECT * FROM (SELECT {columns}, priority, available_at FROM {table} WHERE {where}{range_sql} "
        f"ORDER BY {read_order} LIMIT %s{lock_sql}) AS one_read"
        for _, range_sql, read_order, _ in reads
    )
    params = [p for queue, _, _, extra in reads for p in (queue, now, now, *extra, limit)]
    return f"SELECT {columns} FROM ({union_sql}) AS ready ORDER BY {order} LIMIT %s", [*params, limit]


def claim(
    connection: BaseDatabaseWrapper,
    queues: Sequence[str],
    token: str,
    limit: int,
    now: dt.datetime,
    leased_until: dt.datetime,
    priority_reverse: bool = False,
    priorities: dict[str, list[int]] | None = None,
) -> list[ClaimedRow]:
    """Lease up to ``limit`` ready messages of ``queues`` to ``token``.

    ``priorities``: read each priority on its own (:func:`_ready_sql`);
    the same rows, fewer read when many messages wait scheduled ahead.
    """
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
        sqlite = connection.vendor == "sqlite"
        if sqlite and priorities is None:
            # SQLite reads several queues in order from the claim index itself
            # (and has one writer at a time and no SKIP LOCKED: none is needed).
            select_sql = f"SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT %s"
            select_params = [*select_params, limit]
        else:
            select_sql, select_params = _ready_sql(table, queues, "id", order, adapt(now), limit, priorities,
                                                   lock=not sqlite)
        if sqlite and not connection.in_atomic_block and not _sqlite_any_ready(connection, select_sql, select_params):
            return []
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
                                               adapt(now), limit, priorities)
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


#: seconds: a plain claim this slow has likely read past messages scheduled for later
SLOW_CLAIM = 0.005
#: plain claims that slow, one after the other, before the switch: messages
#: scheduled ahead slow every claim; a wait for SQLite's write turn, a WAL
#: checkpoint or a busy CPU slows one now and then, and switching for that
#: made a SQLite drain about 10% slower (docs/benchmarks.md)
SLOW_CLAIMS_IN_A_ROW = 3
#: seconds a :class:`Claimer` reads each priority on its own before it tries a plain claim again
BY_PRIORITY_FOR = 30.0
#: seconds the priorities looked up are used before they are looked up again
PRIORITIES_FOR = 2.0


class Claimer:
    """One consumer's claims: plain, or read per priority while many messages wait scheduled ahead.

    A plain claim is the cheapest statement to plan, and reads only due
    rows while nothing waits scheduled ahead. With many messages scheduled
    ahead it reads them too whenever it finds fewer due rows than it asks
    for (an idle poll always does). :data:`SLOW_CLAIMS_IN_A_ROW` claims
    slower than :data:`SLOW_CLAIM` make the claims of the next
    :data:`BY_PRIORITY_FOR` seconds read each priority on its own
    (:func:`_ready_sql`), with the priorities looked up every
    :data:`PRIORITIES_FOR` seconds; then a plain claim is tried again.
    Both kinds take the same rows: the choice only changes what the
    database reads (and a claim slowed by anything else costs only a few
    lookups more for a while).
    """

    def __init__(self) -> None:
        self._by_priority_until = -math.inf
        self._slow_in_a_row = 0
        self._priorities: dict[str, list[int]] | None = None
        self._priorities_at = -math.inf

    @property
    def by_priority(self) -> bool:
        """Whether the next claim reads each priority on its own."""
        return monotonic() < self._by_priority_until

    def claim(
        self,
        connection: BaseDatabaseWrapper,
        queues: Sequence[str],
        token: str,
        limit: int,
        now: dt.datetime,
        leased_until: dt.datetime,
        priority_reverse: bool = False,
    ) -> list[ClaimedRow]:
        """:func:`claim`, plain or per priority."""
        started = monotonic()
        if started < self._by_priority_until:
            wanted = list(dict.fromkeys(queues))
            if (self._priorities is None or started - self._priorities_at > PRIORITIES_FOR
                    or list(self._priorities) != wanted):
                self._priorities = {queue: priorities(connection, queue) for queue in wanted}
                self._priorities_at = started
            return claim(connection, queues, token, limit, now, leased_until, priority_reverse, self._priorities)
        rows = claim(connection, queues, token, limit, now, leased_until, priority_reverse)
        if monotonic() - started <= SLOW_CLAIM:
            self._slow_in_a_row = 0
        else:
            self._slow_in_a_row += 1
            if self._slow_in_a_row >= SLOW_CLAIMS_IN_A_ROW:
                self._slow_in_a_row = 0
                self._by_priority_until = monotonic() + BY_PRIORITY_FOR
                self._priorities = None
        return rows


def _sqlite_any_ready(connection: BaseDatabaseWrapper, select_sql: str, params: list[Any]) -> bool:
    """A read first: an idle poll then takes no write lock (WAL readers never wait)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM ({select_sql}) AS ready_rows LIMIT 1", params)
        return cursor.fetchone() is not None


def priorities(connection: BaseDatabaseWrapper, queue: str) -> list[int]:
    """The priorities of ``queue``'s ready messages, highest first: one index lookup each, and one more."""
    ready = Message.objects.using(connection.alias).ready().filter(queue=queue)
    found: list[int] = []
    priority = ready.order_by("-priority").values_list("priority", flat=True).first()
    while priority is not None:
        found.append(priority)
        priority = ready.filter(priority__lt=priority).order_by("-priority").values_list("priority", flat=True).first()
    return found


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
        for priority in priorities(connection, queue):
            due = (ready.filter(priority=priority, available_at__gt=now).order_by("available_at")
                   .values_list("available_at", flat=True).first())
            if due is not None:
                found.append(due)
    return min(found, default=None)
