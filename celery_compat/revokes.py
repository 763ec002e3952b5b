"""Revokes: a row every worker sees, and REVOKED at once.

Celery keeps revoked ids in each worker's memory (lost on restart, unknown to
workers started later) and, since 5.6.2, marks the task REVOKED in the
backend when a worker receives the command. Here ``revoke()`` writes a
``Revoke`` row (kept ``REVOKE_SECONDS``, like Celery's revoke memory of three
hours) and marks the task REVOKED immediately, whatever workers are up.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Iterable

from django.utils import timezone

from . import states

if TYPE_CHECKING:
    from .app import Celery

#: Celery's default revoke memory (CELERY_WORKER_REVOKE_EXPIRES): 3 hours.
REVOKE_SECONDS = 3 * 60 * 60


def record_revoke(app: Celery, task_id: Any, terminate: bool = False, signal: str = "SIGTERM") -> None:
    """Persist the revoke of ``task_id`` (or several) and mark them REVOKED."""
    ids = persist_revokes(task_id, terminate=terminate, signal=signal)
    backend = app.backend
    for one in ids:
        if backend.get_task_meta(one).get("status") in states.READY_STATES:
            continue  # finished: a revoke cannot change the outcome
        backend.mark_as_revoked(one, "revoked")


def persist_revokes(task_id: Any, terminate: bool = False, signal: Any = "SIGTERM") -> list[str]:
    """Write (or refresh) the ``Revoke`` rows of ``task_id`` (or several); return the ids.

    One upsert statement: no read-then-write, which SQLite would refuse
    under concurrent writers ("database is locked").
    """
    from .models import Revoke

    ids = [str(one) for one in (task_id if isinstance(task_id, (list, tuple, set)) else [task_id])]
    now = timezone.now()
    Revoke.objects.bulk_create(
        [Revoke(task_id=one, terminate=terminate, signal=str(signal or "SIGTERM")[:16], created_at=now,
                expires_at=now + dt.timedelta(seconds=REVOKE_SECONDS)) for one in ids],
        update_conflicts=True,
        unique_fields=["task_id"] if _upsert_has_target() else None,
        update_fields=["terminate", "signal", "created_at", "expires_at"],
    )
    return ids


def revoked_ids(task_ids: Iterable[str]) -> set[str]:
    """Which of ``task_ids`` are revoked (one query)."""
    from .models import Revoke

    return set(
        Revoke.objects.active(timezone.now()).filter(task_id__in=list(task_ids)).values_list("task_id", flat=True)
    )


def _upsert_has_target() -> bool:
    from django.db import connections, router

    from .models import Revoke

    return connections[router.db_for_write(Revoke)].features.supports_update_conflicts_with_target
