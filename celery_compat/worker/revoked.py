"""The worker's copy of the ``Revoke`` table, so starting a task costs no query.

``revoke()`` writes a ``Revoke`` row (:mod:`celery_compat.revokes`) and
broadcasts; a worker that missed the broadcast, or started after it, learns
it from the row. Reading the row for every task start put one database
round trip on the hot path of every task (the largest single cost of a
drain in the profile, see docs/benchmarks.md). Instead the worker keeps the
ids in memory: all active rows at start, then the rows written since the
last read (with a margin for clock skew between hosts), refreshed by the
consumer loop about once a second while idle and before a task starts if
the copy is older than ``max_age``. A revoke that reaches neither the
broadcast nor a refresh is seen at most ``max_age`` seconds late.
"""

from __future__ import annotations

import datetime as dt
import time

from django.utils import timezone

#: rows created this long before the last read are read again: clocks of
#: the revoking host and of the worker may disagree by up to this much
CLOCK_MARGIN = dt.timedelta(seconds=60)
#: a full reload now and then drops expired ids from memory
FULL_RELOAD_SECONDS = 600.0


class RevokedMirror:
    """Revoked task ids, as the ``Revoke`` table had them at most a moment ago."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._since: dt.datetime | None = None
        self._read_at = float("-inf")
        self._full_at = float("-inf")

    def refresh(self, max_age: float = 0.0) -> None:
        """Read the rows written since the last read, if that is older than ``max_age``."""
        now = time.monotonic()
        if now - self._read_at < max_age:
            return
        from ..models import Revoke

        wall = timezone.now()
        rows = Revoke.objects.active(wall)
        full = self._since is None or now - self._full_at >= FULL_RELOAD_SECONDS
        if not full:
            rows = rows.filter(created_at__gte=self._since - CLOCK_MARGIN)
        ids = set(rows.values_list("task_id", flat=True))
        if full:
            self._ids = ids
            self._full_at = now
        else:
            self._ids |= ids
        self._since = wall
        self._read_at = now

    def contains(self, task_id: str, max_age: float = 2.0) -> bool:
        """Whether ``task_id`` is revoked, reading new rows first if the copy is older than ``max_age``."""
        self.refresh(max_age)
        return task_id in self._ids
