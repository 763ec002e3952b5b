"""Many tasks from four producer processes through two workers: none lost, none twice.

``CHAOS_LOAD_TASKS`` sets the number (default ``1000 × CHAOS_SCALE``; the
issue's full run is ``CHAOS_LOAD_TASKS=200000``). Worker memory is sampled
once the workers are warm and again at the end (main process plus pool).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.chaos.harness import (
    StartWorker,
    account,
    executed,
    pool_children,
    record,
    rss_kib,
    scaled,
    task_ids,
    wait_settled,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _rss(worker) -> int:
    pids = [worker.pid, *pool_children(worker.pid)]
    total = 0
    for pid in pids:
        try:
            total += rss_kib(pid)
        except OSError:
            pass  # a child replaced meanwhile
    return total


def test_many_tasks_four_producers_two_workers(chaos_worker: StartWorker, producers, tmp_path: Path) -> None:
    total = int(os.environ.get("CHAOS_LOAD_TASKS", scaled(1000)))
    ledger = tmp_path / "ledger"
    concurrency = os.environ.get("CHAOS_LOAD_CONCURRENCY", "2")
    workers = [chaos_worker("-P", "prefork", "-c", concurrency, ready=False) for _ in range(2)]
    from tests.chaos.harness import consuming

    for worker in workers:
        wait_until(f"{worker.hostname} up", lambda w=worker: consuming(w.hostname), 120,
                   procs=[worker.proc], log=worker.log)
    ids = task_ids("load", 0, total)
    started = time.monotonic()
    procs = producers("chaos.record_quiet", ledger, "load", total, n=4, batch=500)
    warm = min(total // 20, 2000)
    wait_until("the workers to warm up", lambda: executed(ids, ledger) >= warm, 600,
               procs=[w.proc for w in workers], interval=0.5)
    rss_start = [_rss(w) for w in workers]
    for proc in procs:
        assert proc.wait(timeout=3600) == 0, "a producer failed"
    published_in = time.monotonic() - started
    took = wait_settled(ids, ledger, 3600, procs=[w.proc for w in workers], check_every=2.0)
    took = time.monotonic() - started
    rss_end = [_rss(w) for w in workers]

    acc = account(f"{total} tasks from 4 producer processes through 2 workers", ids, ledger)
    acc.recovery_s = None
    acc.extra = {
        "seconds": round(took, 1),
        "published_in_s": round(published_in, 1),
        "tasks_per_s": round(total / took, 1),
        "worker_rss_kib_start": rss_start,
        "worker_rss_kib_end": rss_end,
    }
    acc.notes = (f"{total / took:.0f} tasks/s end to end; worker RSS (main + pool) "
                 f"{', '.join(f'{a // 1024}→{b // 1024} MiB' for a, b in zip(rss_start, rss_end))}")
    record(acc)
    assert acc.lost == 0 and acc.duplicated == 0 and acc.failed_with_reason == 0, acc
