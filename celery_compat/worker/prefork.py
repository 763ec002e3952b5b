"""The prefork pool: forked children run tasks; the parent keeps the messages.

Each child is an ``os.fork()`` of the worker talking over one pipe: the
parent sends a :class:`~.execution.Job` only to an idle child, so "sent" is
"started", and the child answers with an :class:`~.execution.Outcome`. A
supervisor thread in the parent reads the answers, enforces time limits
(soft: ``SIGUSR1``, which raises ``SoftTimeLimitExceeded`` in the task;
hard: ``SIGKILL``), notices children that died, reports their tasks as lost
and forks replacements. Acks stay in the parent, which owns the connection.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
import traceback
import warnings
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from .. import signals
from ..exceptions import SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError
from .execution import Job, execute, task_connections
from .pools import BasePool

if TYPE_CHECKING:
    from ..app import Celery
    from .pools import PoolHandler
    from .request import Request

logger = logging.getLogger("celery.worker.pool")

SOFT_TIMEOUT_SIGNAL = signal.SIGUSR1
#: the longest the supervisor sleeps with nothing to do
SUPERVISOR_TICK = 1.0


def human_status(exitcode: int) -> str:
    """billiard's wording: ``signal 9 (SIGKILL)`` or ``exitcode 1``."""
    if exitcode < 0:
        try:
            return f"signal {-exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exitcode {exitcode}"


class _Child:
    __slots__ = ("pid", "conn", "index", "request", "job", "started", "hard", "soft",
                 "soft_sent", "timed_out", "retiring", "reserved")

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

    @property
    def idle(self) -> bool:
        return self.request is None and not self.retiring and not self.reserved


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
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._supervisor: threading.Thread | None = None

    @property
    def processes(self) -> list[int]:
        with self._lock:
            return sorted(self._children)

    # -- children ----------------------------------------------------------

    def start(self) -> None:
        for index in range(self.concurrency):
            self._spawn(index)
        self._supervisor = threading.Thread(target=self._supervise, name="PoolSupervisor", daemon=True)
        self._supervisor.start()

    def _spawn(self, index: int) -> None:
        parent_conn, child_conn = multiprocessing.Pipe(duplex=True)
        inherited = [child.conn for child in self._children.values()]
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a threaded process: the child
            # only runs this module's loop, never the parent's threads.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 1
            try:
                parent_conn.close()
                for conn in inherited:
                    conn.close()
                os.close(self._wake_r)
                os.close(self._wake_w)
                code = _child_main(self.app, child_conn, index, self.max_tasks_per_child,
                                   self.max_memory_per_child)
            except BaseException:
                traceback.print_exc()
            finally:
                # Never return into the parent's stack, never run its atexit
                # hooks or finalizers (they would close the parent's sockets).
                os._exit(code)
        child_conn.close()
        self._children[pid] = _Child(pid, parent_conn, index)
        logger.debug("pool: started child pid=%s index=%s", pid, index)

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
                if child is None:
                    return
                request = self._pending.popleft()
                child.reserved = True
            try:
                started = self.handler.on_start(request, child.pid)
            except Exception:
                logger.exception("pool: could not start %r", request)
                started = False
            with self._lock:
                child.reserved = False
                if not started:
                    continue
                if child.pid not in self._children:
                    # It died while on_start ran: give the request to another.
                    self._pending.appendleft(request)
                    continue
                self._send(child, request)

    def _send(self, child: _Child, request: Request) -> None:
        task = request.task
        hard, soft = request.time_limits
        child.hard = hard or getattr(task, "time_limit", None) or self.time_limit
        child.soft = soft or getattr(task, "soft_time_limit", None) or self.soft_time_limit
        child.job = self.make_job(request)
        child.request = request
        child.started = time.monotonic()
        child.soft_sent = child.timed_out = False
        try:
            child.conn.send(child.job)
        except (OSError, ValueError):
            # The child just died without running it: another child will.
            logger.warning("pool: child pid=%s gone before it got %r", child.pid, request)
            child.request = child.job = None
            self._pending.appendleft(request)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # already awake, or closed

    # -- supervisor thread ---------------------------------------------------

    def _supervise(self) -> None:
        from django.db import connections

        try:
            while True:
                with self._lock:
                    if self._closing and not self._children:
                        return
                    by_conn = {child.conn: child for child in self._children.values()}
                    timeout = self._next_deadline()
                ready = wait([*by_conn, self._wake_r], timeout)
                for obj in ready:
                    if obj == self._wake_r:
                        try:
                            os.read(self._wake_r, 4096)
                        except BlockingIOError:
                            pass
                        continue
                    child = by_conn[obj]  # type: ignore[index]
                    try:
                        message = child.conn.recv()
                    except (EOFError, OSError):
                        self._on_child_exit(child)
                        continue
                    self._on_message(child, message)
                self._enforce_time_limits()
                self._dispatch()
        except Exception:
            logger.critical("pool: supervisor thread crashed", exc_info=True)
        finally:
            connections.close_all()

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

    def _on_message(self, child: _Child, message: Any) -> None:
        kind, number, outcome, retire = message
        with self._lock:
            request = child.request
            child.request = child.job = None
            child.retiring = bool(retire)
        if request is not None and kind == "done":
            _retry_once_on_db_error(self.handler.on_done, request, outcome)

    def _on_child_exit(self, child: _Child) -> None:
        try:
            _, status = os.waitpid(child.pid, 0)
            exitcode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            exitcode = 0
        with self._lock:
            self._children.pop(child.pid, None)
            request, job, timed_out = child.request, child.job, child.timed_out
            closing = self._closing
        child.conn.close()
        if request is not None and job is not None:
            exc: BaseException
            if timed_out:
                exc = TimeLimitExceeded(child.hard)
            else:
                exc = WorkerLostError(
                    f"Worker exited prematurely: {human_status(exitcode)} Job: {job.number}."
                )
                logger.error("Process 'ForkPoolWorker-%s' pid:%s exited with '%s'",
                             child.index + 1, child.pid, human_status(exitcode))
            _retry_once_on_db_error(self.handler.on_lost, request, exc, timed_out)
        if not closing:
            with self._lock:
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
        while True:
            with self._lock:
                busy = [c for c in self._children.values() if c.request is not None or c.reserved]
                if not busy:
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
                _kill(child.pid, signal.SIGKILL)
        self._join()

    def _join(self) -> None:
        self._wake()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
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


def _retry_once_on_db_error(callback: Any, *args: Any) -> None:
    # The supervisor's connection may have died with a database restart; a
    # lost ack would leave the message leased (and heartbeated) forever.
    from django.db import DatabaseError, connections

    try:
        callback(*args)
    except DatabaseError:
        logger.warning("pool: database error settling a task; reconnecting once", exc_info=True)
        connections.close_all()
        callback(*args)


# -- in the child -------------------------------------------------------------

#: Django connections inherited from the parent: kept referenced, never
#: closed or finalized here, because closing them would end the parent's
#: database sessions that share these sockets.
_INHERITED: list[Any] = []
_running_job: Job | None = None


def _forget_parent_connections() -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)
            conn.connection = None
        conn.in_atomic_block = False
        conn.savepoint_ids = []
        conn.atomic_blocks = []
        conn.needs_rollback = False
        conn.closed_in_transaction = False
        conn.run_on_commit = []


def _on_soft_timeout(signum: int, frame: Any) -> None:
    if _running_job is not None:
        raise SoftTimeLimitExceeded()


def _child_main(app: Celery, conn: Connection, index: int, max_tasks: int | None,
                max_memory_kib: int | None) -> int:
    global _running_job
    from django.db import connections

    multiprocessing.current_process().name = f"ForkPoolWorker-{index + 1}"
    _forget_parent_connections()
    parent = os.getppid()
    # Ctrl+C reaches the whole process group: the parent decides what to do.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.signal(SOFT_TIMEOUT_SIGNAL, _on_soft_timeout)
    from ..result import set_join_will_block

    # A child only runs tasks: result.get() there would wait on itself.
    set_join_will_block(True)
    app.on_after_fork.send(sender=app)
    signals.worker_process_init.send(sender=None)
    done = 0
    try:
        while True:
            if not conn.poll(SUPERVISOR_TICK):
                if os.getppid() != parent:
                    return 1  # the worker died: nobody would take our results
                continue
            try:
                job = conn.recv()
            except EOFError:
                return 0
            if job is None:
                return 0
            with task_connections():
                _running_job = job
                try:
                    outcome = execute(app, job)
                finally:
                    _running_job = None
            done += 1
            retire = bool(max_tasks and done >= max_tasks) or bool(
                max_memory_kib and resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > max_memory_kib
            )
            conn.send(("done", job.number, outcome, retire))
            if retire:
                return 0
    finally:
        signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
        connections.close_all()
