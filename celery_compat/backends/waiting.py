"""How ``wait_for`` sleeps between two reads of a result that is not ready.

:class:`PollingWaiter` sleeps, starting short and doubling up to the
``interval``: short tasks are seen quickly, long waits still read the
database only once per ``interval``.

:class:`PgResultWaiter` is woken early on PostgreSQL. Migration 0002 adds a
trigger that sends ``NOTIFY celery_compat_result, '<task_id>'`` when a
result row is written in a ready state (SUCCESS, FAILURE, REVOKED), and
since migration 0006 only for a task id somebody registered in
``celery_compat_resultwaiter``: a NOTIFY slows every committing worker,
and most results are never waited for. The waiter registers each task id
before its first sleep on it and removes its rows when it closes. It
listens on a connection of its own: a LISTEN must not share Django's
connection, which the caller may be using in a transaction (notifications
are only delivered between transactions) and which Celery's Django fixup
closes around tasks. The connection lives for one ``wait_for`` and is
closed when it returns. Reads still happen at least once per ``interval``,
so a lost notification (or a lost connection, or a result committed in the
instant between its trigger and the registration) only costs latency.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Protocol

from kombu_transport_django.notify import Listener

logger = logging.getLogger(__name__)

#: The NOTIFY channel; migration 0002 spells it too.
CHANNEL = "celery_compat_result"
#: The registered waits (migration 0006): the trigger notifies only for these.
WAITERS_TABLE = "celery_compat_resultwaiter"
#: Rows older than this are a crashed waiter's, deleted at the next
#: registration; a wait longer than this still reads at its interval.
STALE_AFTER = "1 day"


class Waiter(Protocol):
    """Sleeps between two reads of a result that is not ready."""

    def wait(self, task_id: str, seconds: float) -> float:
        """Wait up to ``seconds`` (less if woken); return the seconds waited."""

    def close(self) -> None:
        """Release what the waiter holds (a LISTEN connection, …)."""


class PollingWaiter:
    """Sleep ``first`` seconds, doubling each time, never longer than asked.

    Short tasks are seen quickly while long waits still read the database
    only once per ``interval``.
    """

    def __init__(self, first: float = 0.05) -> None:
        self._next = first

    def wait(self, task_id: str, seconds: float) -> float:
        nap = min(self._next, seconds)
        if nap > 0:
            time.sleep(nap)
        self._next *= 2
        return max(nap, 0.0)

    def close(self) -> None:
        pass


class PgResultWaiter:
    """Waits for a ``NOTIFY celery_compat_result, '<task_id>'`` or the end of the interval."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.listener = Listener(alias, CHANNEL)
        self._broken = False
        #: this waiter's rows in WAITERS_TABLE (not the session's pid: behind
        #: a transaction-mode pooler the DELETE may run in another session)
        self.token = uuid.uuid4().hex
        self._registered: set[str] = set()

    def wait(self, task_id: str, seconds: float) -> float:
        """Wait until ``task_id`` is notified or ``seconds`` pass; return the seconds waited.

        The first call for a task id only connects, LISTENs and registers
        the id, and returns 0: a result committed before that sent no
        notification we could receive, so the caller must read once more
        before sleeping.
        """
        started = time.monotonic()
        if self._broken:
            time.sleep(seconds)
            return seconds
        try:
            if not self.listener.connected:
                self.listener.connect()
            if task_id not in self._registered:
                self._register(task_id)
                return 0.0
            deadline = started + seconds
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                payloads = self.listener.receive(remaining)
                if payloads is None or task_id in payloads:
                    break
        except Exception as exc:  # no LISTEN (server restart, permissions…): plain polling from now on
            logger.warning("LISTEN %s failed on database alias=%s (%s); polling instead", CHANNEL, self.alias, exc)
            self.close()
            self._broken = True
            remaining = max(0.0, seconds - (time.monotonic() - started))
            time.sleep(remaining)
        return time.monotonic() - started

    def _register(self, task_id: str) -> None:
        self.listener.execute(f"DELETE FROM {WAITERS_TABLE} WHERE since < now() - %s::interval", (STALE_AFTER,))
        self.listener.execute(
            f"INSERT INTO {WAITERS_TABLE} (task_id, waiter) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (task_id, self.token),
        )
        self._registered.add(task_id)

    def close(self) -> None:
        """Remove this waiter's registrations and close the LISTEN connection."""
        if self._registered and self.listener.connected:
            try:
                self.listener.execute(f"DELETE FROM {WAITERS_TABLE} WHERE waiter = %s", (self.token,))
            except Exception as exc:  # the rows go stale and are deleted by a later registration
                logger.debug("could not remove result waits of %s: %s", self.token, exc)
        self._registered.clear()
        self.listener.close()
