"""The task the beat entries send: its result names the run it was sent for."""

from __future__ import annotations

from celery_compat import shared_task


@shared_task(bind=True)
def record(self, label: str = "") -> list[str | None]:
    """Return ``[periodic_task_name, periodic_task_due_at, label]`` (stored as the TaskResult)."""
    request = self.request
    return [getattr(request, "periodic_task_name", None), getattr(request, "periodic_task_due_at", None), label]
