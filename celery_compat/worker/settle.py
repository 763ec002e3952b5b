"""Settling a task's message (ack, reject, lost-task report) through a database outage.

A pool settles a message after its task ran: an ack deletes the row, a
reject gives it back or keeps it as dead, a lost-task report stores the
failure. Each is a database write, and the database may be restarting or
down. A settlement that is dropped is worse than one that waits: its row
stays leased by this worker, and heartbeated, for as long as the worker
lives: neither deleted nor run again. So a settlement that fails on a
database error is retried, with backoff, until the database answers:

- at once after reconnecting (the usual case: a restart killed this
  thread's session, and the server is already back);
- then, for the prefork pool, from its supervisor thread's loop
  (:class:`Settlements`), so that time limits and child exits are still
  handled while the database is away;
- for the ``solo`` and ``threads`` pools, in the thread that ran the task
  (:func:`settle_blocking`): nothing else waits on that thread.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any, Callable

logger = logging.getLogger("celery.worker.pool")

#: first wait before retrying a settlement that failed twice
FIRST_DELAY = 0.25
#: the longest wait between two retries
MAX_DELAY = 5.0


def _attempt(callback: Callable[..., Any], args: tuple[Any, ...], reconnect: bool) -> bool:
    """Run ``callback(*args)``; False if it failed on a database error (also after reconnecting)."""
    from django.db import DatabaseError, connections

    try:
        callback(*args)
        return True
    except DatabaseError as exc:
        connections.close_all()  # a dead session stays dead: the next try reconnects
        if not reconnect:
            logger.debug("pool: settling %r still fails: %r", args[0], exc)
            return False
        logger.warning("pool: database error settling %r (%r); reconnecting", args[0], exc)
    try:
        callback(*args)
        return True
    except DatabaseError as exc:
        connections.close_all()
        logger.warning("pool: settling %r failed again (%r); retrying until the database answers", args[0], exc)
        return False


def settle_blocking(callback: Callable[..., Any], *args: Any) -> None:
    """Run ``callback(*args)`` in this thread, retrying on database errors until it passes."""
    if _attempt(callback, args, reconnect=True):
        return
    began, delay = time.monotonic(), FIRST_DELAY
    while True:
        time.sleep(delay)
        if _attempt(callback, args, reconnect=False):
            logger.warning("pool: settled %r after %.1fs of database errors", args[0], time.monotonic() - began)
            return
        delay = min(delay * 2, MAX_DELAY)


class Settlements:
    """Settlements waiting for the database, retried from one thread's loop.

    :meth:`run` settles now if it can and keeps the settlement otherwise;
    the owner calls :meth:`retry_due` on each turn of its loop and sleeps no
    longer than :meth:`next_delay`. Not thread-safe: one thread uses it.
    """

    def __init__(self) -> None:
        self._waiting: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = collections.deque()
        self._retry_at = 0.0
        self._delay = FIRST_DELAY
        self._since = 0.0

    def run(self, callback: Callable[..., Any], *args: Any) -> None:
        """Settle now; on a database error that outlives a reconnect, keep it for :meth:`retry_due`."""
        if self._waiting:
            # The database is known to be away: wait in line instead of
            # paying a failed connect per finished task.
            self._waiting.append((callback, args))
            return
        if not _attempt(callback, args, reconnect=True):
            self._waiting.append((callback, args))
            self._since = time.monotonic()
            self._delay = FIRST_DELAY
            self._retry_at = self._since + self._delay

    def next_delay(self) -> float | None:
        """Seconds until the next retry is due; None when nothing waits."""
        if not self._waiting:
            return None
        return max(0.0, self._retry_at - time.monotonic())

    def retry_due(self) -> None:
        """Retry the waiting settlements, oldest first, if their time has come."""
        if not self._waiting or time.monotonic() < self._retry_at:
            return
        while self._waiting:
            callback, args = self._waiting[0]
            if not _attempt(callback, args, reconnect=False):
                self._delay = min(self._delay * 2, MAX_DELAY)
                self._retry_at = time.monotonic() + self._delay
                return
            self._waiting.popleft()
        logger.warning("pool: settlements caught up after %.1fs of database errors", time.monotonic() - self._since)

    def abandon(self) -> None:
        """The pool stops with settlements still waiting: say which, and that their leases will lapse."""
        if self._waiting:
            logger.error("pool: stopping with %d settlement(s) the database never took (%s); their messages "
                         "come back when their leases lapse", len(self._waiting),
                         ", ".join(repr(args[0]) for _, args in list(self._waiting)[:10]))
            self._waiting.clear()
