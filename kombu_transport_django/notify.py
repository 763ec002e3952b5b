"""Waking consumers: PostgreSQL LISTEN/NOTIFY, adaptive polling elsewhere.

On PostgreSQL a trigger (see migration 0002) sends ``NOTIFY django_kombu,
'<queue>'`` whenever a row becomes ready, so a publish wakes an idle consumer
at commit time. The consumer listens on a connection of its own: Celery's
Django fixup closes Django's connections around tasks, and a LISTEN must
outlive that. Polling stays on as the safety net for missed notifications.
"""

from __future__ import annotations

import logging
import select
import time
from typing import Any, Iterable

from django.db import connections

logger = logging.getLogger(__name__)

CHANNEL = "django_kombu"


class Poller:
    """Sleep between empty polls: short after activity, doubling to a cap."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self._next = minimum

    def activity(self) -> None:
        self._next = self.minimum

    def wait(self, timeout: float, queues: Iterable[str] = ()) -> bool:
        """Sleep up to ``timeout``; True if the caller should poll now."""
        delay = min(self._next, timeout)
        if delay > 0:
            time.sleep(delay)
        self._next = min(self._next * 2, self.maximum)
        return True

    def close(self) -> None:
        pass


class Listener:
    """A connection of its own that LISTENs on one channel (psycopg 3 or 2).

    Shared by the transport's wake-ups and celery_compat's result waiter. A
    LISTEN must not share Django's connection: the caller may be inside a
    transaction (notifications arrive only between transactions), and
    Celery's Django fixup closes Django's connections around tasks.
    """

    def __init__(self, alias: str, channel: str) -> None:
        self.alias = alias
        self.channel = channel
        self._conn: Any = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def connect(self) -> None:
        wrapper = connections[self.alias]
        params = wrapper.get_connection_params()
        params.pop("pool", None)  # a pooled connection would go back still listening
        conn = wrapper.get_new_connection(params)
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'LISTEN "{self.channel}"')
        self._conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one statement on the listening connection (autocommit)."""
        with self._conn.cursor() as cursor:
            cursor.execute(sql, params)

    def receive(self, timeout: float) -> list[str] | None:
        """Payloads received within ``timeout`` seconds; None if it passed.

        A readable socket may carry no notification (an empty list), which
        is not a timeout. Connection errors propagate: the caller closes.
        """
        readable, _, _ = select.select([self._conn.fileno()], [], [], max(0.0, timeout))
        if not readable:
            return None
        conn = self._conn
        if callable(getattr(conn, "notifies", None)):  # psycopg 3
            return [n.payload for n in conn.notifies(timeout=0)]
        conn.poll()  # psycopg2
        payloads = [n.payload for n in conn.notifies]
        conn.notifies.clear()
        return payloads

    def close(self) -> None:
        """Close the connection; the server forgets the LISTEN with it."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken: nothing left to release
                pass
            self._conn = None


class PgListener(Poller):
    """Wake when one of our queues gets work (NOTIFY), else poll as a safety net."""

    def __init__(self, alias: str, maximum: float) -> None:
        super().__init__(maximum, maximum)
        self.listener = Listener(alias, CHANNEL)

    def wait(self, timeout: float, queues: Iterable[str] = ()) -> bool:
        deadline = time.monotonic() + min(timeout, self.maximum)
        wanted = set(queues)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True  # safety-net poll
            try:
                if not self.listener.connected:
                    self.listener.connect()
                    return True  # notifications sent before LISTEN are lost: poll once
                payloads = self.listener.receive(remaining)
            except Exception as exc:  # the server restarted, or the socket broke
                logger.warning("LISTEN connection lost (%s); reconnecting", exc)
                self.close()
                time.sleep(min(remaining, 0.5))
                return True
            if payloads is None or not wanted or wanted.intersection(payloads):
                return True

    def close(self) -> None:
        self.listener.close()
