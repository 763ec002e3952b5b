"""Revokes: recorded where every worker sees them, and REVOKED at once.

Celery keeps revoked ids in each worker's memory (lost on restart, unknown to
workers started later) and, since 5.6.2, marks the task REVOKED in the
backend when a worker receives the command. Here ``revoke()`` marks REVOKED
immediately, whatever workers are up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import TaskRevokedError

if TYPE_CHECKING:
    from .app import Celery


def record_revoke(app: Celery, task_id: Any, terminate: bool = False, signal: str = "SIGTERM") -> None:
    ids = task_id if isinstance(task_id, (list, tuple, set)) else [task_id]
    backend = app.backend
    for one in ids:
        meta = backend.get_task_meta(one)
        if meta.get("status") in ("SUCCESS", "FAILURE", "REVOKED"):
            continue  # finished: revoking cannot change the outcome
        backend.mark_as_revoked(one, "revoked")


__all__ = ["record_revoke", "TaskRevokedError"]
