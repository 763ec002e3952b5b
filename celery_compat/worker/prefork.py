"""The prefork pool: forked children run tasks; the parent keeps the messages.

Children are forked by a fork server (:mod:`.forkserver`), a clean
single-threaded copy of the worker made when the pool starts, and each talks
to the worker over one pipe: the worker sends a :class:`~.execution.Job` to
an idle child, and the child answers with an :class:`~.execution.Outcome`.
A busy child may also be sent its next jobs, up to :data:`QUEUE_DEPTH`
(:meth:`PreforkPool._can_queue`), which it starts as soon as the current one
ends, without waiting for the worker to read the answer and send another: in
a drain of short tasks those two process wake-ups were a quarter of a child's
time. Until it starts, such a job stays reserved, not active: a revoke
cancels it (the child answers "cancelled"), and a child that retires, stops
or dies gives it back. A supervisor thread in the worker reads the answers,
enforces time limits (soft: ``SIGUSR1``, which raises
``SoftTimeLimitExceeded`` in the task; hard: ``SIGKILL``), hears from the
fork server which children exited and how, reports their tasks as lost, and
asks for replacements. Acks stay in the worker, which owns the connection.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from .. import signals
from ..exceptions import TimeLimitExceeded, WorkerLostError
from .child import SOFT_TIMEOUT_SIGNAL, child_main, forget_parent_connections
from .execution import Job, close_old_connections
from .fdpoll import PollSet
from .forkserver import ForkServer, human_status
from .pools import BasePool
from .settle import Settlements

if TYPE_CHECKING:
    from ..app import Celery
    from .pools import PoolHandler
    from .request import Request

logger = logging.getLogger("celery.worker.pool")

#: the longest the supervisor sleeps with nothing to do
SUPERVISOR_TICK = 1.0
#: how long a warm stop waits for children to report their exit
EXIT_TIMEOUT = 10.0
#: most jobs sent to a busy child ahead of the one it runs. Two, not one: with
#: one, the worker sends the next only after reading the answer for the job
#: before, which in a drain of short tasks came after the running task's
#: result was stored about half the time, so that result could not carry the
#: next start mark (celery_compat.nextstart) and the child made it alone.
QUEUE_DEPTH = 2


def _import_for_children(app: Celery) -> None:
    """Import, before the fork server is forked, the modules every child imports for its first task.

    Imported in each child, they were a copy per child, and the new objects
    landed on pages the child shared with the fork server, copying those
    too: about 2 MiB of PSS per child (``python -m bench.memory_split``;
    docs/benchmarks.md). The result backend's class is only looked up: no
    instance, so no connection is made here.
    """
    from kombu_transport_django import leases, notify  # noqa: F401

    from .. import result  # noqa: F401
    from ..backends import by_name

    try:
        by_name(app.conf.result_backend)
    except Exception:  # noqa: BLE001 - a bad setting is reported where the backend is made, as before
        pass


class _Child:
    __slots__ = ("pid", "conn", "index", "request", "job", "started", "hard", "soft",
                 "soft_sent", "timed_out", "retiring", "reserved", "eof", "unreachable", "queue")

    def __init__(self, pid: int, conn: Connection, index: int) -> None:
        self.pid = pid
        self.conn = conn
        self.index = index
        self.request: Request | None = None
        self.job: Job | None = None
        self.started = 0.0
        self.hard: float | None = None
        self.soft: float | None = None
        self.soft_sent = False
        self.timed_out = False
        self.retiring = False
        #: picked for a request whose on_start has not returned yet
        self.reserved = False
        #: its pipe closed: it exited, the fork server will say how
        self.eof = False
        #: a send to it failed: it exited (or is exiting) and reads nothing more,
        #: although the supervisor may not have read its last answers yet
        self.unreachable = False
        #: sent to start, in order, when the current one ends (see :meth:`PreforkPool._can_queue`)
        self.queue: collections.deque[tuple[Request, Job]] = collections.deque()

    @property
    def usable(self) -> bool:
        """Neither retiring, nor being handed a job, nor gone."""
        return not (self.retiring or self.reserved or self.eof or self.unreachable)

    @property
    def idle(self) -> bool:
        return self.request is None and self.usable


class PreforkPool(BasePool):
    """``concurrency`` forked child processes, replaced when they die or retire."""

    name = "prefork"
    can_terminate = True

    def __init__(self, app: Celery, handler: PoolHandler, concurrency: int, **options: Any) -> None:
        super().__init__(app, handler, concurrency, **options)
        self.max_tasks_per_child: int | None = options.get("max_tasks_per_child") or None
        self.max_memory_per_child: int | None = options.get("max_memory_per_child") or None
        self.time_limit: float | None = options.get("time_limit")
        self.soft_time_limit: float | None = options.get("soft_time_limit")
        self._children: dict[int, _Child] = {}
        self._pending: collections.deque[Request] = collections.deque()
        # RLock: handler callbacks may re-enter apply_async via the consumer.
        self._lock = threading.RLock()
        self._closing = False
        #: the fork server is gone: no child can be replaced (the worker stops)
        self.broken = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._supervisor: threading.Thread | None = None
        #: acks and lost-task reports waiting for the database (supervisor thread only)
        self._settlements = Settlements()
        self.server = ForkServer(
            functools.partial(child_main, app, self.max_tasks_per_child, self.max_memory_per_child),
            on_fork=self._in_fork_server,
        )

    @property
    def processes(self) -> list[int]:
        with self._lock:
            return sorted(self._children)

    # -- children ----------------------------------------------------------

    def start(self) -> None:
        _import_for_children(self.app)
        self.server.start()
        for index in range(self.concurrency):
            self._spawn(index)
        while len(self._children) < self.concurrency:
            self._on_server_message()
        self._supervisor = threading.Thread(target=self._supervise, name="PoolSupervisor", daemon=True)
        self._supervisor.start()

    def _spawn(self, index: int) -> None:
        # Celery sends it in the worker before each new pool process.
        signals.worker_before_create_process.send(sender=self)
        self.server.request_spawn(index)

    def _in_fork_server(self) -> None:
        os.close(self._wake_r)
        os.close(self._wake_w)
        forget_parent_connections()

    def _on_server_message(self) -> None:
        message, conn = self.server.receive()
        if message[0] == "spawned":
            _, index, pid = message
            assert conn is not None
            with self._lock:
                self._children[pid] = _Child(pid, conn, index)
            logger.debug("pool: started child pid=%s index=%s", pid, index)
        elif message[0] == "exited":
            _, pid, exitcode = message
            child = self._children.get(pid)
            if child is not None:
                self._on_child_exit(child, exitcode)

    # -- dispatch ------------------------------------------------------------

    def apply_async(self, request: Request) -> None:
        with self._lock:
            self._pending.append(request)
        self._dispatch()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closing or not self._pending:
                    return
                child = next((c for c in self._children.values() if c.idle), None)
                if child is None and self._can_queue(self._pending[0]):
                    child = min((c for c in self._children.values() if self._can_take_next(c)),
                                key=lambda c: len(c.queue), default=None)
                if child is None:
                    return
                request = self._pending.popleft()
                child.reserved = True
            try:
                started = self.handler.on_start(request, child.pid, runner_starts=True, queued=True)
            except Exception:
                logger.exception("pool: could not start %r", request)
                # A database error (the session was killed, the server
                # restarted) leaves this thread's connection broken; close it
                # so the give-back below and the next start reconnect,
                # instead of failing on it for as long as the worker lives.
                close_old_connections()
                self.handler.abandon(request)
                started = False
            with self._lock:
                child.reserved = False
                if not started:
                    continue
                if child.eof or child.pid not in self._children:
                    # It died while on_start ran: give the request to another.
                    self._pending.appendleft(request)
                    continue
                self._send(child, request)

    def _limits(self, request: Request) -> tuple[float | None, float | None]:
        """The hard and soft time limits ``request`` runs with."""
        task = request.task
        hard, soft = request.time_limits
        return (hard or getattr(task, "time_limit", None) or self.time_limit,
                soft or getattr(task, "soft_time_limit", None) or self.soft_time_limit)

    def _can_queue(self, request: Request) -> bool:
        """Whether ``request`` may wait in a busy child's pipe, to start after the jobs before it.

        Only one whose early ack is a start ticket: if the child dies, the
        ticket's row tells whether it had started (then it is lost, as a
        running task) or not (then it goes back to the queue). Not with a time
        limit, whose clock starts when the task does, and not when every
        child retires after one task.
        """
        return (self.max_tasks_per_child != 1 and request.starts_by_ticket
                and self._limits(request) == (None, None))

    def _can_take_next(self, child: _Child) -> bool:
        return (child.request is not None and len(child.queue) < QUEUE_DEPTH and child.hard is None
                and child.soft is None and child.usable)

    def _send(self, child: _Child, request: Request) -> None:
        job = self.make_job(request)
        ahead = child.request is not None  # under the lock: still so if the send fails
        if ahead:
            child.queue.append((request, job))
        else:
            self._begin(child, request, job)
        try:
            child.conn.send(job)
        except (OSError, ValueError):
            # The child just died without running it: another child will.
            logger.warning("pool: child pid=%s gone before it got %r", child.pid, request)
            # Never pick it again: when this runs in the supervisor thread, the
            # child's EOF is not read until this loop returns, and a child that
            # still looks busy (its "done" unread) would take the job again,
            # forever (a retiring child that exited between its "done" and
            # this send).
            child.unreachable = True
            if ahead:
                child.queue.pop()  # the entry appended above
            else:
                child.request = child.job = None
            self._pending.appendleft(request)
        self._wake()

    def _begin(self, child: _Child, request: Request, job: Job) -> None:
        """``request`` is (about to be) running in ``child``; under the lock."""
        child.hard, child.soft = self._limits(request)
        child.job = job
        child.request = request
        child.started = time.monotonic()
        child.soft_sent = child.timed_out = False
        self.handler.on_begin(request, child.pid)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass  # already awake, or closed

    # -- supervisor thread ---------------------------------------------------

    def _supervise(self) -> None:
        from django.db import connections

        server = self.server.fileno()
        pipes = PollSet()
        try:
            while True:
                with self._lock:
                    if self._closing and not self._children:
                        return
                    by_fd = {c.conn.fileno(): c for c in self._children.values() if not c.eof}
                    timeout = self._next_deadline()
                retry_in = self._settlements.next_delay()
                if retry_in is not None:
                    timeout = min(timeout, retry_in)
                pipes.watch([*by_fd, self._wake_r, server])
                ready = pipes.ready(timeout)
                for fd in ready:
                    if fd in by_fd:
                        self._read_child(by_fd[fd])
                if server in ready:
                    self._on_server_message()
                if self._wake_r in ready:
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                self._settlements.retry_due()
                self._enforce_time_limits()
                self._dispatch()
        except EOFError:
            logger.critical("pool: the fork server exited; children can no longer be replaced")
            self.broken = True
        except Exception:
            logger.critical("pool: supervisor thread crashed", exc_info=True)
            self.broken = True
        finally:
            self._settlements.abandon()
            connections.close_all()

    def _read_child(self, child: _Child) -> None:
        try:
            message = child.conn.recv()
        except (EOFError, OSError):
            child.eof = True  # exited; the fork server reports how
            return
        kind, number, outcome, retire = message
        with self._lock:
            if kind in ("returned", "cancelled"):
                # A job sent ahead, never started: the child retired or stopped, or a revoke.
                request = None
                queued = next((q for q in child.queue if q[1].number == number), None)
                if queued is not None:
                    child.queue.remove(queued)
                    request = queued[0]
                elif child.job is not None and child.job.number == number:
                    # Taken for started when the job before it ended: it was not.
                    request, child.request, child.job = child.request, None, None
                    if kind == "cancelled":
                        self._begin_next(child)  # the child goes on to the job after it
            else:
                request = child.request
                child.request = child.job = None
                child.retiring = bool(retire)
                if not retire:
                    # The child has gone on to its next job already. One
                    # that retires does not: it answers "returned" for the
                    # jobs it read before exiting; those sent after its last
                    # read are given back when it exits (_on_child_exit).
                    self._begin_next(child)
        if request is None:
            return
        if kind == "done":
            self._settlements.run(self.handler.on_done, request, outcome)
        elif kind == "not-started":
            self._settlements.run(self.handler.on_not_started, request, outcome)
        elif kind == "returned":
            self._settlements.run(self.handler.on_returned, request)
        elif kind == "cancelled":
            self._settlements.run(self.handler.on_cancelled, request)

    def _begin_next(self, child: _Child) -> None:
        """The first job sent ahead to ``child``, if any, runs there now; under the lock."""
        if child.queue:
            self._begin(child, *child.queue.popleft())

    def _settle_unanswered(self, request: Request, job: Job) -> None:
        """A job sent ahead to a dead child, which never ran it: its row goes back to the queue.

        The child may have made its start mark already, with the result of
        the job before (:mod:`celery_compat.nextstart`); it runs a job only
        after answering for the one before, which it did not: the start is
        undone (for a job further back the UPDATE finds no started row).
        """
        if job.start is not None:
            job.start.unstart()
        self.handler.on_returned(request)

    def _next_deadline(self) -> float:
        now = time.monotonic()
        timeout = SUPERVISOR_TICK
        for child in self._children.values():
            if child.request is None:
                continue
            for limit, done in ((child.soft, child.soft_sent), (child.hard, child.timed_out)):
                if limit and not done:
                    timeout = min(timeout, max(0.0, child.started + limit - now))
        return timeout

    def _on_child_exit(self, child: _Child, exitcode: int) -> None:
        while not child.eof and child.conn.poll(0):
            self._read_child(child)  # an answer sent just before exiting
        with self._lock:
            self._children.pop(child.pid, None)
            request, job, timed_out = child.request, child.job, child.timed_out
            queued = list(child.queue)
            child.queue.clear()
            closing = self._closing
        child.conn.close()
        for request_ahead, job_ahead in queued:
            # Not answered for: the child died before answering for the job
            # it ran (read above), or retired before reading these.
            self._settlements.run(self._settle_unanswered, request_ahead, job_ahead)
        if request is not None and job is not None and job.start is not None:
            _start_for_dead_child(job)
        if request is not None and job is not None:
            exc: BaseException
            if timed_out:
                exc = TimeLimitExceeded(child.hard)
            else:
                exc = WorkerLostError(
                    f"Worker exited prematurely: {human_status(exitcode)} Job: {job.number}."
                )
                if request.terminated_signum is None:
                    logger.error("Process 'ForkPoolWorker-%s' pid:%s exited with '%s'",
                                 child.index + 1, child.pid, human_status(exitcode))
            self._settlements.run(self.handler.on_lost, request, exc, timed_out)
        if not closing:
            self._spawn(child.index)

    def _enforce_time_limits(self) -> None:
        now = time.monotonic()
        with self._lock:
            for child in self._children.values():
                request = child.request
                if request is None:
                    continue
                if child.soft and not child.soft_sent and now >= child.started + child.soft:
                    child.soft_sent = True
                    logger.warning("Soft time limit (%ss) exceeded for %s[%s]",
                                   child.soft, request.name, request.id)
                    _kill(child.pid, SOFT_TIMEOUT_SIGNAL)
                if child.hard and not child.timed_out and now >= child.started + child.hard:
                    child.timed_out = True
                    _kill(child.pid, signal.SIGKILL)

    # -- control -------------------------------------------------------------

    def cancel(self, task_ids: set[str]) -> None:
        """Tell children holding one of ``task_ids`` among their jobs sent ahead not to start it."""
        with self._lock:
            for child in self._children.values():
                for request, job in child.queue:
                    if request.id not in task_ids:
                        continue
                    try:
                        child.conn.send(("cancel", job.number))
                    except (OSError, ValueError):
                        break  # it exited: its jobs sent ahead are given back (_on_child_exit)

    def terminate_job(self, request: Request, signum: int) -> None:
        with self._lock:
            for child in self._children.values():
                if child.request is request:
                    # Before the kill: the supervisor must not report it as lost.
                    request.terminated_signum = signum
                    _kill(child.pid, signum)
                    return

    def stop(self) -> None:
        """Warm: queued requests are not started; running ones finish."""
        with self._lock:
            self._closing = True
            self._pending.clear()  # unacked: given back when the connection closes
            for child in self._children.values():
                if child.queue:
                    # It gives its jobs sent ahead back unstarted, and exits once the current one ends.
                    try:
                        child.conn.send(None)
                    except (OSError, ValueError):
                        pass
        while not self.broken:
            with self._lock:
                if not any(c.request is not None or c.reserved for c in self._children.values()):
                    for child in self._children.values():
                        try:
                            child.conn.send(None)
                        except (OSError, ValueError):
                            pass
                    break
            time.sleep(0.05)
        self._join()

    def terminate(self) -> None:
        """Cold: kill every child now."""
        with self._lock:
            self._closing = True
            self._pending.clear()
            for child in self._children.values():
                child.request = child.job = None  # abandoned, not "lost"
                child.queue.clear()
                _kill(child.pid, signal.SIGKILL)
        self._join()

    def _join(self) -> None:
        self._wake()
        if self._supervisor is not None:
            self._supervisor.join(EXIT_TIMEOUT)
            self._supervisor = None
        self.server.stop()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _start_for_dead_child(job: Job) -> None:
    """Make the early ack of a child that died, if it had not made it yet.

    The child may have died before or after its ticket's UPDATE: once it is
    made here too (it does nothing if the child made it), the run is settled
    as lost like any other (``WorkerLostError``, the row deleted), instead of
    its message staying leased, and renewed, for as long as this worker lives.
    """
    try:
        job.start.start()
    except Exception as exc:  # the row's lease lapses, and the reaper reports it lost
        logger.warning("pool: could not mark the run of %s as started after its child died: %r", job.task_id, exc)
