"""Signals of the ``django://`` transport."""

from __future__ import annotations

from typing import NamedTuple

from django.dispatch import Signal

__all__ = ["LostRun", "running_lost"]


class LostRun(NamedTuple):
    """A message acknowledged at start whose worker process died while holding it."""

    id: int
    queue: str
    task_id: str
    task_name: str
    #: the kombu message dict as JSON, as stored
    payload: str
    #: the dead process's lease owner (``run:<pid>:<random>@<host>``)
    owner: str
    #: the reason kept on the dead row
    reason: str


#: sent by the lease reaper (a live consumer's heartbeat thread) after it kept
#: such messages as dead; arguments: ``using`` (database alias), ``runs``
#: (list of :class:`LostRun`). celery_compat's worker stores their tasks'
#: results as ``FAILURE`` with ``WorkerLostError``.
running_lost = Signal()
