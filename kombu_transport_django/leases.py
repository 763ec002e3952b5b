"""Leases: ack, give back, set aside, renew, and reap what dead consumers held.

A claimed row is leased to one consumer token until ``leased_until``. The
consumer's heartbeat (:class:`Heartbeat`) pushes ``leased_until`` forward for
as long as the process lives, however long its tasks run; when the process
dies the lease lapses and :func:`reap` puts the row back in its queue (or sets
it aside as dead after ``max_redeliveries``). Every statement checks the
owner, so a consumer that lost its lease can never ack or release a row that
another consumer now holds.

An early ack (Celery's default, ``acks_late=False``) does not delete the row:
:func:`start` marks it started (``started_at``; the status stays ``LEASED``,
so the UPDATE changes no indexed column) and leases it to the worker *process*
(:func:`process_token`), not to the consuming channel, so a reconnect (new
channel, new token) neither gives it back nor lets it lapse; :func:`finish`
deletes it when the run ends. If the process dies first, the lease lapses
and :func:`reap` keeps the row as dead with ``WorkerLostError`` as its reason
and sends :data:`~kombu_transport_django.signals.running_lost`, so the run is
recorded as failed instead of vanishing (the message was acked: it is never
delivered again).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from django.db import DatabaseError, OperationalError, connections, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from . import prepared, writeturn
from .forking import database_work
from .models import RUNNING_ROWS, Binding, Consumer, Message, Queue
from .pickling import pickled_as_tuple
from .signals import LostRun, running_lost

if TYPE_CHECKING:
    from .options import TransportOptions

logger = logging.getLogger(__name__)

READY = Message.Status.READY
LEASED = Message.Status.LEASED
DEAD = Message.Status.DEAD

_process_token: tuple[int, str] | None = None
_process_token_lock = threading.Lock()


def _new_lock_after_fork() -> None:
    global _process_token_lock
    _process_token_lock = threading.Lock()  # a lock held by a parent's thread at fork time stays held


os.register_at_fork(after_in_child=_new_lock_after_fork)


def process_token() -> str:
    """This process's lease owner for the rows of the runs it started (new after a fork)."""
    global _process_token
    pid = os.getpid()
    token = _process_token
    if token is None or token[0] != pid:
        # Pool threads start their first tasks at the same moment: without
        # the lock each could make its own token, and the rows started under
        # a token that lost the race were never deleted (finish() matches the
        # token) nor renewed.
        with _process_token_lock:
            token = _process_token
            if token is None or token[0] != pid:
                token = _process_token = (pid, f"run:{pid}:{uuid.uuid4().hex[:16]}@{socket.gethostname()}"[:64])
    return token[1]


#: errors a deadlock victim or lock-wait timeout raises (MySQL/MariaDB
#: 1213 and 1205, PostgreSQL 40P01): the statement can simply run again.
RETRYABLE_LOCK_ERRORS = ("1213", "1205", "40P01", "deadlock")


def _is_lock_conflict(exc: BaseException) -> bool:
    text = f"{getattr(exc, 'args', '')} {getattr(getattr(exc, '__cause__', None), 'sqlstate', '')}"
    return any(code in text.lower() for code in RETRYABLE_LOCK_ERRORS)


def ack(using: str, row_id: int, token: str) -> bool:
    """Delete an acked message; False if the lease was lost meanwhile.

    One plain DELETE: the ORM's ``delete()`` would first collect the rows
    inside a transaction, tripling the cost of the hottest statement. It is
    guarded by the lease owner, so a deadlock victim is retried as is.
    """
    table = connections[using].ops.quote_name(Message._meta.db_table)
    return _execute(
        using, f"DELETE FROM {table} WHERE id = %s AND lease_owner = %s", [row_id, token], f"ack id={row_id}",
        prepare=True,
    ) == 1


def _execute(using: str, sql: str, params: list[Any], what: str, prepare: bool = False) -> int:
    """One guarded statement in autocommit; a deadlock victim runs again.

    ``prepare``: a per-task statement, prepared on the server where
    :mod:`.prepared` allows.
    """
    connection = connections[using]
    for attempt in range(3):
        try:
            with writeturn.turn(connection), prepared.cursor(connection, prepare) as cursor:
                cursor.execute(sql, params)
                return cursor.rowcount
        except OperationalError as exc:
            if attempt == 2 or connection.in_atomic_block or not _is_lock_conflict(exc):
                raise
            logger.warning("%s hit a lock conflict (%s); retrying", what, exc)
    return 0


def start(options: TransportOptions, row_id: int, token: str) -> bool:
    """Early ack of a message about to run: started, leased to this process.

    False if ``token`` no longer holds the lease (it lapsed, or the
    consumer gave it back at a reconnect): another consumer has or will
    have the message, so the caller must not run it. One UPDATE in place
    of the DELETE a plain ack costs.
    """
    ticket = prepare_start(options, row_id, token)
    try:
        started = ticket.start()
    except BaseException:
        RunningKeeper.forget(row_id)
        raise
    if not started:
        RunningKeeper.forget(row_id)
    return started


#: the database's clock for ``started_at``: ~7 us less per start in the
#: child than a ``timezone.now()`` parameter made, adapted and quoted per
#: task. PostgreSQL only: its ``timestamptz`` is absolute, while what the
#: other vendors' clocks give depends on USE_TZ and the database's
#: TIME_ZONE setting, so they get the parameter.
_NOW_SQL = {"postgresql": "statement_timestamp()"}


#: appended to a start mark's WHERE (PostgreSQL): its transaction commits
#: without waiting for the WAL flush, which a later durable commit (the
#: task's own writes, say) makes anyway, the WAL being written in order
_ASYNC_COMMIT = " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"


@pickled_as_tuple
@dataclass(frozen=True, slots=True)
class StartTicket:
    """A :func:`start` to run in another process: a prefork child, just before the task.

    Made in the consuming process (:func:`prepare_start`), which keeps
    renewing and later deletes the row; :meth:`start` marks the row
    started for that process (``owner``), from the child's own
    connection, so the consuming process's pool thread does not wait on one
    UPDATE per task. Picklable.
    """

    database: str
    row_id: int
    token: str
    owner: str
    #: commit the mark asynchronously (``synchronous_commit=False``, PostgreSQL)
    asynchronous: bool = False

    def start(self) -> bool:
        """Mark the row started; False if ``token`` no longer holds its lease (do not run it)."""
        sql, params = self.statement()
        return _execute(self.database, sql, params, f"start id={self.row_id}", prepare=True) == 1

    def statement(self) -> tuple[str, list[Any]]:
        """The UPDATE :meth:`start` runs, to run on its own or inside another statement (one row or none).

        It sets only columns that are in no index (``lease_owner``,
        ``started_at``): PostgreSQL then rewrites the row in place (a HOT
        update), without a new entry in each of the table's indexes.
        """
        connection = connections[self.database]
        table = connection.ops.quote_name(Message._meta.db_table)
        now_sql = _NOW_SQL.get(connection.vendor)
        now = [] if now_sql else [connection.ops.adapt_datetimefield_value(timezone.now())]
        sql = (
            f"UPDATE {table} SET lease_owner = %s, started_at = {now_sql or '%s'} "
            f"WHERE id = %s AND lease_owner = %s AND status = %s AND started_at IS NULL"
        )
        if self.asynchronous and connection.vendor == "postgresql" and not connection.in_atomic_block:
            # Only for the transaction of this statement (and of the result
            # upsert it may ride in): never the caller's transaction, never
            # the session, which the task's own writes use next.
            sql += _ASYNC_COMMIT
        return sql, [self.owner, *now, self.row_id, self.token, int(LEASED)]

    def unstart(self) -> bool:
        """Undo a start whose task is known not to have run: the row is leased to ``token`` again, unstarted.

        For the next job of a prefork child that died: its start was made
        with the result of the job before (:mod:`celery_compat.nextstart`),
        but the child runs it only after it answered for that one, and it
        never did. False if the row was not started for this ticket.
        """
        table = connections[self.database].ops.quote_name(Message._meta.db_table)
        sql = (f"UPDATE {table} SET lease_owner = %s, started_at = NULL "
               f"WHERE id = %s AND lease_owner = %s AND status = %s AND started_at IS NOT NULL")
        params = [self.token, self.row_id, self.owner, int(LEASED)]
        return _execute(self.database, sql, params, f"unstart id={self.row_id}") == 1

    def withdraw(self, requeue: bool) -> bool:
        """Take the ticket back before anyone started it; False if it was started or its lease is gone.

        The row, still leased to ``token`` and never started, goes back to
        its queue (``requeue``: not counted as a delivery, as a graceful
        close gives messages back) or is deleted (an ack: the request was
        revoked). This process stops renewing it either way.
        """
        table = connections[self.database].ops.quote_name(Message._meta.db_table)
        if requeue:
            sql = (f"UPDATE {table} SET status = %s, lease_owner = NULL, leased_until = NULL, "
                   f"delivery_count = CASE WHEN delivery_count > 0 THEN delivery_count - 1 ELSE 0 END "
                   f"WHERE id = %s AND lease_owner = %s AND status = %s AND started_at IS NULL")
            params: list[Any] = [int(READY), self.row_id, self.token, int(LEASED)]
        else:
            sql = f"DELETE FROM {table} WHERE id = %s AND lease_owner = %s AND status = %s AND started_at IS NULL"
            params = [self.row_id, self.token, int(LEASED)]
        try:
            return _execute(self.database, sql, params, f"withdraw id={self.row_id}") == 1
        finally:
            RunningKeeper.forget(self.row_id)


def prepare_start(options: TransportOptions, row_id: int, token: str) -> StartTicket:
    """A :class:`StartTicket` for ``row_id``, whose row this process renews from now on.

    Renewed from before the UPDATE may commit, so a started row is never
    left to lapse; :meth:`RunningKeeper.forget` it if the start fails.
    """
    RunningKeeper.get(options).add(row_id)
    return StartTicket(options.database, row_id, token, process_token(), not options.synchronous_commit)


def finish(using: str, row_id: int) -> None:
    """The run of a started message ended: its row is deleted, soon.

    Handed to this process's :class:`RunningKeeper`, which deletes the rows
    of ended runs in batches, off the caller's thread (the prefork pool's
    supervisor spent half its time on this one DELETE per task). Deleted
    here and now when no keeper of this process serves ``using``, or when
    the caller is inside a transaction.
    """
    keeper = RunningKeeper._instance
    if keeper is not None and keeper.serves(using) and not connections[using].in_atomic_block:
        keeper.finished(row_id)
    else:
        # Inside a transaction (drain() in a test, a worker run within
        # atomic()) the start's UPDATE is not committed: only this
        # connection sees the row, and another would wait on its lock.
        delete_finished(using, [row_id])
        RunningKeeper.forget(row_id)


def delete_finished(using: str, ids: list[int]) -> int:
    """Delete the rows of ended runs this process started; how many it deleted.

    A row missing from the count was reaped while its task still ran (this
    process could not renew its lease for ``lease_seconds``: a database
    outage): the run did end here, so the dead row's ``WorkerLostError`` is
    wrong, and it is deleted too. The result stored is the run's own.
    """
    table = connections[using].ops.quote_name(Message._meta.db_table)
    placeholders = ", ".join(["%s"] * len(ids))
    done = _execute(
        using,
        f"DELETE FROM {table} WHERE id IN ({placeholders}) AND lease_owner = %s AND status = %s "
        f"AND started_at IS NOT NULL",
        [*ids, process_token(), int(LEASED)],
        f"finish of {len(ids)} id(s) from id={ids[0]}",
    )
    if done < len(ids):
        reaped = Message.objects.using(using).filter(
            id__in=ids, status=DEAD, dead_reason__startswith="WorkerLostError:"
        ).delete()[0]
        logger.warning("finish of %s started message(s) found no running row (%s were kept as dead "
                       "with WorkerLostError while they ran: deleted)", len(ids) - done, reaped)
    return done


def flush_finished(using: str) -> None:
    """Delete now the rows of the runs this process ended on ``using`` (a channel closes)."""
    keeper = RunningKeeper._instance
    if keeper is not None and keeper.serves(using):
        keeper.flush()


#: the most ids one finishing DELETE names
FINISH_BATCH = 500
#: seconds the keeper waits after a run ends before deleting, to batch the DELETE
FINISH_LINGER = 0.05
#: seconds without an ended run after which the keeper closes its session
IDLE_CLOSE = 0.5


class RunningKeeper:
    """This process's started messages: renews their leases, deletes them when their runs end.

    One thread a process. Not the consuming connection's :class:`Heartbeat`:
    that one stops when the connection closes, and a worker reconnecting
    after a database outage keeps running the tasks it started meanwhile.

    Ended runs (:func:`finish`) are deleted in batches, one DELETE for all
    that ended since the thread's last turn, :data:`FINISH_LINGER` after it
    wakes. Until its
    DELETE commits an ended run's row is still renewed, so it is never reaped
    as lost; a DELETE that fails (the database is away) is retried.
    :meth:`flush` deletes what is left, in the caller's thread: at channel
    close and at exit, so a stopping worker leaves no started row behind.
    It holds a session only while runs end; idle, it closes it, so a database
    can be dropped.
    """

    _instance: RunningKeeper | None = None
    _lock = threading.Lock()

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self._pid = os.getpid()
        self._ids: set[int] = set()
        self._ended: set[int] = set()
        self._ids_lock = threading.Lock()
        self._deleting = threading.Lock()  # one DELETE of ended runs at a time: this thread or flush()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="django-kombu-running", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    @classmethod
    def get(cls, options: TransportOptions) -> RunningKeeper:
        with cls._lock:
            keeper = cls._instance
            if keeper is None or keeper._pid != os.getpid() or not keeper._thread.is_alive():
                keeper = cls._instance = cls(options)
            return keeper

    @classmethod
    def forget(cls, row_id: int) -> None:
        keeper = cls._instance
        if keeper is not None:
            keeper.discard(row_id)

    def serves(self, using: str) -> bool:
        """Whether this process's thread is alive and keeps ``using``'s rows."""
        return self._pid == os.getpid() and self._thread.is_alive() and self.options.database == using

    def add(self, row_id: int) -> None:
        with self._ids_lock:
            self._ids.add(row_id)

    def discard(self, row_id: int) -> None:
        with self._ids_lock:
            self._ids.discard(row_id)
            self._ended.discard(row_id)

    def finished(self, row_id: int) -> None:
        """The run of ``row_id`` ended: delete its row on the next turn."""
        with self._ids_lock:
            self._ended.add(row_id)
        self._wake.set()

    def pending(self) -> int:
        """Ended runs whose rows are not deleted yet."""
        with self._ids_lock:
            return len(self._ended)

    def flush(self) -> None:
        """Delete the rows of every ended run now, in this thread; errors are logged."""
        if self._pid != os.getpid():
            return
        try:
            self._delete_ended()
        except Exception as exc:
            logger.warning("could not delete the rows of %s ended run(s) now (%r): retried while this "
                           "process lives; if it exits first they are kept as dead (WorkerLostError) once "
                           "their leases lapse", self.pending(), exc)

    def _delete_ended(self) -> bool:
        """One pass over the ended runs; whether there were any."""
        using = self.options.database
        with self._deleting, database_work():
            with self._ids_lock:
                ended = sorted(self._ended)
            for first in range(0, len(ended), FINISH_BATCH):
                batch = ended[first:first + FINISH_BATCH]
                delete_finished(using, batch)
                with self._ids_lock:
                    self._ids.difference_update(batch)
                    self._ended.difference_update(batch)
        return bool(ended)

    def _run(self) -> None:
        using = self.options.database
        interval = self.options.heartbeat_interval
        renew_at = time.monotonic() + interval
        holding = False  # a session is open: kept while runs keep ending
        while True:
            wait = max(0.0, renew_at - time.monotonic())
            if holding:
                wait = min(wait, IDLE_CLOSE)
            woke = self._wake.wait(wait)
            if woke:
                # Let the runs ending meanwhile join this DELETE: at once, a
                # busy worker deleted one row per statement.
                time.sleep(FINISH_LINGER)
            self._wake.clear()
            try:
                deleted = self._delete_ended()
            except DatabaseError as exc:
                logger.warning("deleting the rows of ended runs failed (%s); retrying", exc)
                with database_work():
                    connections[using].close()
                holding = False
                time.sleep(min(interval, 0.5))  # the database is away: do not spin
                self._wake.set()
                continue
            except Exception:
                logger.exception("deleting the rows of ended runs failed; retrying in %ss", interval)
                deleted = False
            holding = holding or deleted
            if time.monotonic() >= renew_at:
                renew_at = time.monotonic() + interval
                with self._ids_lock:
                    ids = list(self._ids)  # ended runs not yet deleted included
                try:
                    if ids:
                        until = timezone.now() + dt.timedelta(seconds=self.options.lease_seconds)
                        with database_work():
                            renew_running(using, ids, until)
                except DatabaseError as exc:
                    logger.warning("renewing started messages failed (%s); retrying in %ss", exc, interval)
                except Exception:
                    logger.exception("renewing started messages failed; retrying in %ss", interval)
                holding = holding or bool(ids)
                woke = False
            if holding and not woke and not deleted:
                # No session held while idle: this thread never stops, and an
                # idle session would keep its database from being dropped.
                with database_work():
                    connections[using].close()
                holding = False


def release(using: str, row_id: int, token: str) -> bool:
    """Put a leased message back in its queue, same row (reject with requeue).

    Also a row this process marked started (:func:`start`) but never ran:
    the start's UPDATE may have committed although the caller saw an error.
    """
    from django.db.models import Q

    released = bool(
        Message.objects.using(using)
        .filter(Q(lease_owner=token, status=LEASED, started_at__isnull=True)
                | Q(lease_owner=process_token(), status=LEASED, started_at__isnull=False), id=row_id)
        .update(status=READY, lease_owner=None, leased_until=None, started_at=None)
    )
    RunningKeeper.forget(row_id)
    return released


def release_all(using: str, token: str) -> int:
    """Give back every message ``token`` still holds (graceful close).

    The delivery is not counted against ``max_redeliveries``: the consumer
    handed the message back without trying it.
    """
    with _maintenance_transaction(using):
        return _lock_unlocked(_held_by(using, token), using, limit=100_000).update(
            status=READY,
            lease_owner=None,
            leased_until=None,
            delivery_count=Greatest(F("delivery_count") - 1, 0),
        )


def _held_by(using: str, token: str) -> Any:
    return Message.objects.using(using).filter(lease_owner=token, status=LEASED, started_at__isnull=True)


def bury(using: str, row_id: int, reason: str, token: str | None = None) -> bool:
    """Keep a message as dead, with the reason, instead of delivering it."""
    rows = Message.objects.using(using).filter(id=row_id)
    if token is not None:
        rows = rows.filter(lease_owner=token)
    return bool(
        rows.update(status=DEAD, lease_owner=None, leased_until=None, dead_reason=reason[:10000])
    )


def _maintenance_transaction(using: str) -> Any:
    """A transaction where rows can be locked and skipped; none on SQLite.

    SQLite cannot lock rows, and a deferred transaction that reads then
    writes there fails at once if another process wrote meanwhile. Each
    statement below re-checks its condition, so autocommit is safe.
    """
    if connections[using].features.has_select_for_update_skip_locked:
        return transaction.atomic(using=using)
    return contextlib.nullcontext()


def _lock_unlocked(rows: Any, using: str, limit: int = 1000) -> Any:
    """``rows`` that no other transaction holds, locked until commit.

    Returns a queryset by primary key only. The maintenance statements must
    never wait for (or deadlock with) a claim or an ack on the same rows:
    those rows are in use anyway, and the next beat sees them again. Once
    locked, rows are updated through the primary key alone: InnoDB takes
    index-entry locks in the order a statement walks its index, and a
    statement walking a secondary index locks in the reverse order of a
    DELETE by id, which is how the heartbeat used to deadlock with acks.
    SQLite locks nothing, so there the original conditions stay as a guard.
    """
    connection = connections[using]
    model = rows.model
    if connection.features.has_select_for_update_skip_locked:
        ids = list(rows.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)[:limit])
        return model.objects.using(using).filter(pk__in=ids) if ids else model.objects.none()
    ids = list(rows.order_by("pk").values_list("pk", flat=True)[:limit])
    return rows.filter(pk__in=ids) if ids else model.objects.none()


def reap(using: str, now: dt.datetime, max_redeliveries: int | None) -> tuple[int, int]:
    """Return lapsed leases to their queues; bury those delivered too often.

    Returns ``(released, buried)``.
    """
    released = buried = 0
    with _maintenance_transaction(using):
        lapsed = _lock_unlocked(
            Message.objects.using(using).filter(status=LEASED, started_at__isnull=True, leased_until__lt=now), using
        )
        if max_redeliveries is not None:
            buried = lapsed.filter(delivery_count__gte=max_redeliveries).update(
                status=DEAD,
                lease_owner=None,
                leased_until=None,
                dead_reason=(
                    f"delivered {max_redeliveries} times and never acknowledged: each "
                    f"consumer died or lost its lease (max_redeliveries={max_redeliveries})"
                ),
            )
            lapsed = lapsed.exclude(status=DEAD)
        released = lapsed.update(status=READY, lease_owner=None, leased_until=None)
    if released or buried:
        logger.warning("lapsed leases released=%s buried=%s", released, buried)
    reap_running(using, now)
    return released, buried


#: the dead reason of a started message whose worker process died
WORKER_LOST_REASON = (
    "WorkerLostError: the worker process running it ({owner}) died; the message was acknowledged "
    "when the task started (acks_late=False), so it is not run again"
)


def reap_running(using: str, now: dt.datetime) -> list[LostRun]:
    """Started messages whose process died: kept as dead, ``running_lost`` sent.

    Never put back in the queue: they were acknowledged at start, and the
    task may have run (in part or whole). Receivers record the failure (the
    worker stores ``WorkerLostError`` as the task's result).
    """
    lost: list[LostRun] = []
    if not running_lost.has_listeners():
        # Only a worker records the failure: another consumer (a client
        # reading replies) leaves the rows for the next worker's reaper.
        return lost
    with _maintenance_transaction(using):
        lapsed = _lock_unlocked(Message.objects.using(using).filter(RUNNING_ROWS, leased_until__lt=now), using)
        rows = list(lapsed.values_list("id", "queue", "task_id", "task_name", "payload", "lease_owner"))
        for row_id, queue, task_id, task_name, payload, owner in rows:
            reason = WORKER_LOST_REASON.format(owner=owner)
            # started_at is kept: the dead row shows when the lost run began
            updated = Message.objects.using(using).filter(RUNNING_ROWS, id=row_id).update(
                status=DEAD, lease_owner=None, leased_until=None, dead_reason=reason
            )
            if updated:
                lost.append(LostRun(row_id, queue, task_id, task_name, payload, owner or "", reason))
    if lost:
        logger.warning("started messages of dead workers kept as dead (WorkerLostError): %s", len(lost))
        running_lost.send(sender=None, using=using, runs=lost)
    return lost


def drop_expired(using: str, now: dt.datetime) -> int:
    """Delete messages past their queue's TTL and queues past ``x-expires``."""
    with _maintenance_transaction(using):
        expired = Message.objects.using(using).filter(expires_at__lt=now, status=READY)
        dropped = _lock_unlocked(expired, using).delete()[0]
    stale = []
    for name, last_seen, expires_ms in Queue.objects.using(using).filter(
        expires_ms__isnull=False
    ).values_list("name", "last_seen_at", "expires_ms"):
        if last_seen + dt.timedelta(milliseconds=expires_ms) < now:
            stale.append(name)
    if stale:
        Binding.objects.using(using).filter(queue__in=stale).delete()
        Message.objects.using(using).filter(queue__in=stale).exclude(status=DEAD).delete()
        Queue.objects.using(using).filter(name__in=stale).delete()
        logger.info("expired queues deleted=%s", len(stale))
    return dropped


def forget_consumers(using: str, before: dt.datetime) -> int:
    """Delete consumer rows silent since ``before``: they are only history.

    Locked by id first (skipping live ones being updated), for the reason
    given in :func:`_lock_unlocked`.
    """
    with _maintenance_transaction(using):
        silent = Consumer.objects.using(using).filter(heartbeat_at__lt=before)
        return _lock_unlocked(silent, using).delete()[0]


class Heartbeat:
    """One daemon thread per consuming connection, on its own DB connection.

    Each beat renews the leases of the connection's consumer tokens, marks
    their queues as seen, and reaps what lapsed elsewhere. A separate thread
    is needed because with the solo pool (and any long task) the consumer
    loop does not run while a task runs, yet its leases must stay alive.
    """

    #: the name of every heartbeat thread
    THREAD_NAME = "django-kombu-heartbeat"

    def __init__(
        self,
        options: TransportOptions,
        tokens: Callable[[], dict[str, list[str]]],
    ) -> None:
        self.options = options
        self.tokens = tokens
        self._stop = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name=self.THREAD_NAME, daemon=True)

    @classmethod
    def threads(cls) -> list[threading.Thread]:
        """This process's heartbeat threads still running: one per consuming connection not closed."""
        return [t for t in threading.enumerate() if t.name == cls.THREAD_NAME and t.is_alive()]

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        # A forked child inherits this object but not the thread.
        return self._pid == os.getpid() and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=self.options.heartbeat_interval + 5)

    def _run(self) -> None:
        using = self.options.database
        try:
            while not self._stop.wait(self.options.heartbeat_interval):
                with database_work():
                    try:
                        self.beat()
                    except DatabaseError as exc:
                        # A restart, a dropped connection or a deadlock victim:
                        # reconnect on the next beat, which redoes all of it.
                        logger.warning("heartbeat failed (%s); retrying in %ss", exc, self.options.heartbeat_interval)
                        connections[using].close()
                    except Exception:
                        logger.exception("heartbeat failed; retrying in %ss", self.options.heartbeat_interval)
        finally:
            with database_work():
                connections[using].close()

    def beat(self) -> None:
        using = self.options.database
        now = timezone.now()
        until = now + dt.timedelta(seconds=self.options.lease_seconds)
        queues: set[str] = set()
        for token, token_queues in self.tokens().items():
            renew(using, token, now, until, token_queues)
            queues.update(token_queues)
        if queues:
            Queue.objects.using(using).filter(name__in=queues).update(last_seen_at=now)
        reap(using, now, self.options.max_redeliveries)
        drop_expired(using, now)
        forget_consumers(using, now - dt.timedelta(seconds=10 * self.options.lease_seconds))


def renew_running(using: str, ids: list[int], until: dt.datetime) -> int:
    """Extend the leases of the messages this process started and still runs."""
    rows = Message.objects.using(using).filter(
        id__in=ids, lease_owner=process_token(), status=LEASED, started_at__isnull=False
    )
    return rows.update(leased_until=until)


def renew(using: str, token: str, now: dt.datetime, until: dt.datetime, queues: list[str]) -> int:
    """Heartbeat of one consumer token: extend its leases, record it alive.

    Rows are locked by id first, skipping any that an ack or reject is
    working on (see :func:`_lock_unlocked`).
    """
    with _maintenance_transaction(using):
        renewed = _lock_unlocked(_held_by(using, token), using, limit=100_000).update(leased_until=until)
    updated = Consumer.objects.using(using).filter(token=token).update(
        heartbeat_at=now, queues=",".join(queues)
    )
    if not updated:
        Consumer.objects.using(using).create(
            token=token,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=",".join(queues),
            started_at=now,
            heartbeat_at=now,
        )
    return renewed
