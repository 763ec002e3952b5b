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


class PgListener(Poller):
    """LISTEN on a dedicated connection; wake when one of our queues gets work."""

    def __init__(self, alias: str, maximum: float) -> None:
        super().__init__(maximum, maximum)
        self.alias = alias
        self._conn: Any = None

    def _connect(self) -> Any:
        wrapper = connections[self.alias]
        params = wrapper.get_connection_params()
        params.pop("pool", None)
        conn = wrapper.get_new_connection(params)
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'LISTEN "{CHANNEL}"')
        return conn

    def wait(self, timeout: float, queues: Iterable[str] = ()) -> bool:
        deadline = time.monotonic() + min(timeout, self.maximum)
        wanted = set(queues)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True  # safety-net poll
            try:
                if self._conn is None:
                    self._conn = self._connect()
                    return True  # notifications sent before LISTEN are lost: poll once
                readable, _, _ = select.select([self._conn.fileno()], [], [], remaining)
                if not readable:
                    return True
                payloads = self._read_notifications()
            except Exception as exc:  # the server restarted, or the socket broke
                logger.warning("LISTEN connection lost (%s); reconnecting", exc)
                self.close()
                time.sleep(min(remaining, 0.5))
                return True
            if not wanted or wanted.intersection(payloads):
                return True

    def _read_notifications(self) -> list[str]:
        conn = self._conn
        if hasattr(conn, "notifies") and callable(conn.notifies):  # psycopg 3
            return [n.payload for n in conn.notifies(timeout=0)]
        conn.poll()  # psycopg2
        payloads = [n.payload for n in conn.notifies]
        conn.notifies.clear()
        return payloads

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
