"""Forking a process whose threads use the database: a gate for their work.

SQLite keeps its lock bookkeeping in process memory, one record per database
file shared by every connection of the process. A process forked while
another of its threads is inside a write inherits the record "a connection
of this process holds the write lock", and nothing in the new process ever
clears it: every connection it opens to that file then gets ``database is
locked`` on each write, for good. Seen in the test suite: a prefork pool
started by ``start_worker`` while this package's own background thread
deleted ended runs; its children retried their start UPDATE for the whole
busy timeout, again and again, while no process held the lock.

The background threads of this package and of the worker
(:class:`~kombu_transport_django.leases.RunningKeeper`, the connection
heartbeat, the worker registry) do their database work inside
:func:`database_work`; a fork that must inherit clean database state (the
prefork pool's fork server) happens inside :func:`quiet_for_fork`, which
waits until no such work is under way and holds new work back until the
fork has been made. Threads of the application are not covered: a process
that forks while one of them writes to SQLite has the same problem. (The
fork server also closes the SQLite connections it inherited before forking
any child: ``celery_compat.worker.child.forget_parent_connections``.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

logger = logging.getLogger(__name__)

#: the longest a fork waits for database work under way to end
FORK_WAIT_SECONDS = 60.0


class _Gate:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.busy = 0  # threads inside database_work()
        self.forking = False
        self.depth = threading.local()  # database_work() nests in one thread


_gate = _Gate()


def _new_gate_after_fork() -> None:
    # The fork was made with the flag up and its condition's lock maybe held
    # by a thread the child does not have.
    global _gate
    _gate = _Gate()


os.register_at_fork(after_in_child=_new_gate_after_fork)


#: every Django connection (wrapper) opened in this process, by any thread
_opened: weakref.WeakSet[Any] = weakref.WeakSet()


def remember_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: a fork can then find other threads' connections."""
    _opened.add(connection)


def opened_connections() -> list[Any]:
    """The Django connection wrappers opened in this process (or copied into it) and not yet freed."""
    return list(_opened)


@contextmanager
def database_work() -> Iterator[None]:
    """Around a background thread's database work: a fork waits until it ends."""
    gate = _gate
    depth = getattr(gate.depth, "value", 0)
    if depth == 0:
        with gate.cond:
            while gate.forking:
                gate.cond.wait()
            gate.busy += 1
    gate.depth.value = depth + 1
    try:
        yield
    finally:
        gate.depth.value = depth
        if depth == 0:
            with gate.cond:
                gate.busy -= 1
                if gate.busy == 0:
                    gate.cond.notify_all()


@contextmanager
def quiet_for_fork(timeout: float = FORK_WAIT_SECONDS) -> Iterator[None]:
    """Make the ``os.fork()`` inside when no :func:`database_work` is under way.

    New work waits until the block ends. After ``timeout`` seconds of work
    that does not end, the fork is made anyway, with a warning.
    """
    gate = _gate
    deadline = time.monotonic() + timeout
    mine = 1 if getattr(gate.depth, "value", 0) else 0  # the caller's own work
    with gate.cond:
        gate.forking = True
        while gate.busy > mine:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("forking while %d thread(s) still use the database: if one writes to SQLite, "
                               "the new process may find the database locked for good", gate.busy - mine)
                break
            gate.cond.wait(remaining)
    try:
        yield
    finally:
        with gate.cond:
            gate.forking = False
            gate.cond.notify_all()
