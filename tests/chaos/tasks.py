"""Tasks of the chaos suite: each run appends its task id to a ledger file.

The ledger is the proof of execution the accounting reads. One ``write`` of
one short line on a file opened with ``O_APPEND`` is atomic between
processes, so workers and children can share it.
"""

from __future__ import annotations

import os
import time

from celery_compat import shared_task


def append(ledger: str, tag: str) -> None:
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def _run(ledger: str, task_id: str, seconds: float) -> None:
    if seconds:
        # Which process runs what: lets a test kill a child mid-task.
        append(ledger + ".starts", task_id)
        time.sleep(seconds)
    append(ledger, task_id)


@shared_task(bind=True, name="chaos.record")
def record(self, ledger: str, seconds: float = 0.0) -> str:
    """Early ack (Celery's default): a run killed midway fails with WorkerLostError."""
    _run(ledger, self.request.id, seconds)
    return self.request.id


@shared_task(bind=True, name="chaos.record_late", acks_late=True, reject_on_worker_lost=True)
def record_late(self, ledger: str, seconds: float = 0.0) -> str:
    """Late ack: a run killed midway is delivered again (a duplicate is allowed)."""
    _run(ledger, self.request.id, seconds)
    return self.request.id


@shared_task(bind=True, name="chaos.record_quiet", ignore_result=True)
def record_quiet(self, ledger: str, seconds: float = 0.0) -> None:
    """No result row: the load test measures the queue, not the result table."""
    _run(ledger, self.request.id, seconds)
