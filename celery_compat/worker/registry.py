"""The worker's row in :class:`celery_compat.models.Worker`: who runs, with what, doing what.

A daemon thread writes the row when the worker starts, then every
``WORKER_HEARTBEAT_INTERVAL`` seconds (hostname, pid, pool, concurrency,
queues, tasks run so far and the tasks running now), and sets
``stopped_at`` when the worker stops. The admin shows a worker whose row
is older than a few intervals as offline: it died without stopping.

Each write is one upsert on the thread's own connection; a failed write is
logged and retried at the next interval, never fatal to the worker.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from kombu_transport_django.forking import database_work

if TYPE_CHECKING:
    from .worker import WorkController

logger = logging.getLogger("celery.worker.registry")

__all__ = ["WorkerRegistry"]


def _active_tasks(worker: WorkController) -> list[dict[str, Any]]:
    state = worker.state
    with state.lock:
        requests = list(state.active.values())
    running = []
    for request in requests:
        info = request.info(safe=True)
        running.append({key: info.get(key) for key in ("id", "name", "args", "kwargs", "time_start", "worker_pid")})
    return running


class WorkerRegistry:
    """Keeps one worker's :class:`~celery_compat.models.Worker` row current."""

    def __init__(self, worker: WorkController, interval: float | None = None) -> None:
        from ..models import WORKER_HEARTBEAT_INTERVAL

        self.worker = worker
        self.interval = WORKER_HEARTBEAT_INTERVAL if interval is None else interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at: Any = None

    def start(self) -> None:
        """Write the row now, then keep it fresh from a daemon thread."""
        from django.utils import timezone

        self._started_at = timezone.now()
        self._thread = threading.Thread(target=self._run, name=f"registry-{self.worker.hostname}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop heartbeating and mark the row stopped."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=max(10.0, self.interval * 2))
        self._thread = None

    def _run(self) -> None:
        from django.db import connections

        try:
            self.beat()
            while not self._stop.wait(self.interval):
                self.beat()
            self.beat(stopped=True)
        finally:
            with database_work():
                for conn in connections.all(initialized_only=True):
                    conn.close()

    def beat(self, stopped: bool = False) -> None:
        """Upsert the row (one statement); errors are logged, not raised."""
        from django.utils import timezone

        from ..models import Worker

        worker = self.worker
        now = timezone.now()
        values = {
            "pid": os.getpid(),
            "pool": worker.pool_name,
            "concurrency": worker.concurrency,
            "queues": ",".join(queue.name for queue in worker.queues),
            "started_at": self._started_at or now,
            "heartbeat_at": now,
            "stopped_at": now if stopped else None,
            "processed": sum(worker.state.total.values()),
            "active": json.dumps([] if stopped else _active_tasks(worker), default=str),
        }
        with database_work():  # a fork (prefork's fork server) waits for it
            try:
                Worker.objects.bulk_create(
                    [Worker(hostname=worker.hostname, **values)],
                    update_conflicts=True,
                    unique_fields=["hostname"] if _has_conflict_target() else None,
                    update_fields=list(values),
                )
            except Exception as exc:
                logger.warning("Could not write the worker row of %s: %r", worker.hostname, exc)
                from django.db import connections

                for conn in connections.all(initialized_only=True):
                    conn.close_if_unusable_or_obsolete()


def _has_conflict_target() -> bool:
    from django.db import connections, router

    from ..models import Worker

    return connections[router.db_for_write(Worker)].features.supports_update_conflicts_with_target
