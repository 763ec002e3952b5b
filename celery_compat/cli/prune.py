"""``celery_compat prune``: delete old results, old dead messages and gone workers, in batches.

Results (task results, group results, and the chord counters of chords
abandoned that long ago) older than an age; dead messages (set aside by the
transport with their reason) created more than an age ago; the worker
registry's rows (the admin's workers) not heard from for an age. Each batch is
a SELECT of ids and short DELETEs, so pruning millions of rows never holds
long locks. ``dry_run`` only counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone

#: rows per batch unless told otherwise
DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class Pruned:
    task_results: int = 0
    group_results: int = 0
    chord_counters: int = 0
    dead_messages: int = 0
    workers: int = 0


def prune(*, results_older_than: dt.timedelta | None, dead_older_than: dt.timedelta | None,
          workers_older_than: dt.timedelta | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
          dry_run: bool = False, broker_database: str = "default") -> Pruned:
    """Delete (or with ``dry_run`` count) what is older than the given ages; None skips that kind."""
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size!r} is invalid: use a whole number of rows, 1 or more")
    counts: dict[str, int] = {}
    if results_older_than is not None:
        from ..models import ChordCounter, GroupResult, TaskResult

        kinds = {
            "task_results": TaskResult.objects.get_all_expired(results_older_than),
            "group_results": GroupResult.objects.get_all_expired(results_older_than),
            "chord_counters": ChordCounter.objects.expired(results_older_than),
        }
        for name, queryset in kinds.items():
            counts[name] = queryset.count() if dry_run else queryset.delete_in_batches(batch_size)
    if dead_older_than is not None:
        from kombu_transport_django.models import Message

        cutoff = timezone.now() - dead_older_than
        dead = Message.objects.using(broker_database).dead().filter(created_at__lt=cutoff)
        counts["dead_messages"] = dead.count() if dry_run else delete_in_batches(dead, batch_size)
    if workers_older_than is not None:
        from ..models import Worker

        # A running worker writes its row every few seconds: only gone ones are this old.
        gone = Worker.objects.filter(heartbeat_at__lt=timezone.now() - workers_older_than)
        counts["workers"] = gone.count() if dry_run else delete_in_batches(gone, batch_size)
    return Pruned(**counts)


def delete_in_batches(queryset: QuerySet, batch_size: int) -> int:
    """Delete the rows of ``queryset`` ``batch_size`` at a time, on its own database; the count."""
    using = queryset.db
    # SQLite caps the parameters of one statement.
    chunk = max(1, connections[using].ops.bulk_batch_size(["pk"], [None] * batch_size))
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
        for start in range(0, len(ids), chunk):
            count, _ = queryset.model._default_manager.using(using).filter(pk__in=ids[start:start + chunk]).delete()
            deleted += count
        if len(ids) < batch_size:
            return deleted
