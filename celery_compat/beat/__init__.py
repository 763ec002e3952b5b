"""Beat: Celery-style periodic tasks that any number of schedulers can run.

``DatabaseScheduler`` (the default ``beat_scheduler``) reads the entries of
``beat_schedule`` and of the :class:`~celery_compat.beat.models.PeriodicTask`
table, and claims each due run in the database before sending it, so every
worker may run ``-B``. See docs/beat.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DatabaseScheduler", "Beat", "schedule_task"]


def __getattr__(name: str) -> Any:
    # Lazy: celery_compat.models imports celery_compat.beat.models while the
    # app registry loads, so nothing here may touch models at import time.
    if name == "DatabaseScheduler":
        from .scheduler import DatabaseScheduler

        return DatabaseScheduler
    if name == "Beat":
        from .service import Beat

        return Beat
    if name == "schedule_task":
        from .helpers import schedule_task

        return schedule_task
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
