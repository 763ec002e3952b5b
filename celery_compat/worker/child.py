"""Inside a prefork child: the loop that runs jobs sent by the worker.

The child is forked by the pool's fork server (:mod:`.forkserver`). It
drops the database connections it inherited (closing them would end the
worker's sessions sharing those sockets), fires ``worker_process_init``,
then runs one job at a time until told to stop, until ``max_tasks`` jobs or
``max_memory_kib`` of resident memory, or until its parent disappears.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import resource
import signal
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from .. import nextstart, signals
from ..exceptions import SoftTimeLimitExceeded
from .execution import Job, execute, task_connections
from .fdpoll import PollSet

if TYPE_CHECKING:
    from ..app import Celery

SOFT_TIMEOUT_SIGNAL = signal.SIGUSR1
#: how often an idle child checks that its parent is still there
PARENT_CHECK_SECONDS = 1.0

#: Django connections inherited from the parent: kept referenced, never
#: closed or finalized here, because closing them would end the parent's
#: database sessions that share these sockets.
_INHERITED: list[Any] = []
_running_job: Job | None = None


def forget_parent_connections() -> None:
    """In a fork: drop the database connections copied from the worker, whichever thread opened them.

    This thread's Django connections are detached (the next query opens a
    new one). Server connections (PostgreSQL, MySQL) are kept referenced
    and never closed or finalized here: closing one, or a MySQL one being
    finalized as another thread's garbage, would end the worker's session
    on the socket they share. SQLite connections are closed: SQLite keeps
    one record per database file for all of a process's connections, with
    the WAL index it maps, and a child that opened its own connection while
    a copy was open took that record over; once the worker's last
    connection closed and the index file was made anew, the child kept
    reading the old one (seen: it found the message table empty and refused
    every task). Closing a copy ends nothing in the worker: SQLite has no
    server session, and its locks belong to the process that took them.
    """
    from django.db import connections

    from kombu_transport_django.forking import opened_connections

    mine = connections.all(initialized_only=True)
    for conn in mine:
        conn.in_atomic_block = False
        conn.savepoint_ids = []
        conn.atomic_blocks = []
        conn.needs_rollback = False
        conn.closed_in_transaction = False
        conn.run_on_commit = []
    # Other threads' wrappers are garbage here (their threads are gone):
    # found through the registry every opened connection joins.
    for wrapper in {*mine, *opened_connections()}:
        raw = wrapper.connection
        if raw is None:
            continue
        wrapper.connection = None
        if wrapper.vendor != "sqlite":
            _INHERITED.append(raw)
            continue
        try:
            raw.close()
        except Exception:  # noqa: BLE001 - a copy that will not close is left alone, unused
            pass


def _on_soft_timeout(signum: int, frame: Any) -> None:
    if _running_job is not None:
        raise SoftTimeLimitExceeded()


def _start(job: Job) -> str | None:
    """Make the job's early ack (its start ticket) here; None to run it, else why not.

    "" when the lease was gone (another worker has the message), an error's
    repr when the database failed: the worker then gives the message back.
    """
    if job.start is None:
        return None
    rode = nextstart.outcome(job.start)
    if rode is not None:  # made with the result of the job before
        return None if rode else ""
    from django.db import DatabaseError, connections

    try:
        return None if job.start.start() else ""
    except DatabaseError as exc:
        connections.close_all()  # a broken session: the next job reconnects
        return repr(exc)


def child_main(app: Celery, max_tasks: int | None, max_memory_kib: int | None,
               conn: Connection, index: int) -> int:
    """Run the jobs the worker sends on ``conn``; returns the exit code."""
    global _running_job
    from django.db import connections

    multiprocessing.current_process().name = f"ForkPoolWorker-{index + 1}"
    forget_parent_connections()
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
    inbox: collections.deque[Job] = collections.deque()  # sent, not started
    cancelled: set[int] = set()
    stopping = False
    pipe = PollSet([conn.fileno()])

    def take(message: Any) -> None:
        nonlocal stopping
        if message is None:
            stopping = True
        elif isinstance(message, tuple):  # ("cancel", number): revoked before it started
            cancelled.add(message[1])
        else:
            inbox.append(message)

    def take_all() -> bool:
        """Read whatever was sent meanwhile; False once the worker closed the pipe."""
        try:
            while pipe.ready(0):
                take(conn.recv())
        except EOFError:
            return False
        return True

    def give_back() -> None:
        while inbox:
            conn.send(("returned", inbox.popleft().number, None, False))

    def next_start() -> Any:
        """The next job's start ticket, to make with the running task's result (:mod:`...nextstart`); or None."""
        if not take_all() or stopping or not inbox:
            return None
        job = inbox[0]
        # Not for a job this child will not run: revoked meanwhile, or
        # after its last task (--max-tasks-per-child; with a memory limit
        # the last task is known only once it ended).
        if job.number in cancelled or max_memory_kib or (max_tasks and done + 1 >= max_tasks):
            return None
        return job.start

    try:
        while True:
            if not inbox and not stopping:
                if not pipe.ready(PARENT_CHECK_SECONDS):
                    if os.getppid() != parent:
                        return 1  # the fork server (so the worker) died: nobody takes results
                    continue
            # A stop or a cancel sent meanwhile is seen before the next job starts.
            if not take_all():
                return 0
            if inbox and nextstart.rode(inbox[0].start):
                job = inbox.popleft()  # started already: run whatever came meanwhile
            else:
                if stopping:
                    give_back()
                    return 0
                if not inbox:
                    continue
                job = inbox.popleft()
                if job.number in cancelled:
                    cancelled.discard(job.number)
                    conn.send(("cancelled", job.number, None, False))
                    continue
            with task_connections():
                refused = _start(job)
                if refused is None:
                    _running_job = job
                    try:
                        with nextstart.offered(job.task_id, next_start):
                            outcome = execute(app, job)
                    finally:
                        _running_job = None
            cancelled.difference_update([n for n in cancelled if n < job.number])  # too late for those
            if refused is not None:
                conn.send(("not-started", job.number, refused or None, False))
                continue
            done += 1
            retire = bool(max_tasks and done >= max_tasks) or bool(
                max_memory_kib and resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > max_memory_kib
            )
            conn.send(("done", job.number, outcome, retire))
            if retire:
                take_all()
                give_back()
                return 0
    finally:
        signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
        connections.close_all()
