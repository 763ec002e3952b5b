"""Where the worker's memory is: ``python -m bench.memory_split [ROUNDS]``.

``python -m bench`` reports one number, the PSS of the worker's whole
process tree after a drain. This starts the same ``prefork -c 2`` worker on
the bench's PostgreSQL database and prints, for each process (the worker,
its fork server, the two children), its PSS and private dirty memory from
``/proc/<pid>/smaps_rollup``: once idle after one task, then after each of
ROUNDS groups of 5,000 no-op tasks (results stored). A process's private
dirty memory that grows on its first task and then stays flat is
copy-on-write of pages it shares with the fork server, not a leak.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")

GROUP = 5000


def rollup(pid: int) -> dict[str, float]:
    """``Pss`` and ``Private_Dirty`` of ``pid``, MiB."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("Pss", "Private_Dirty"):
                out[key] = int(value.split()[0]) / 1024
    return out


def show(label: str, root: int) -> None:
    from bench.workloads import process_tree

    rows = []
    for pid in process_tree(root):
        try:
            rows.append((pid, rollup(pid)))
        except OSError:
            continue  # exited meanwhile
    total = sum(r["Pss"] for _, r in rows)
    parts = " | ".join(f"pid {pid}: PSS {r['Pss']:.1f}, private dirty {r['Private_Dirty']:.1f}" for pid, r in rows)
    print(f"{label}: tree PSS {total:.1f} MiB | {parts}", flush=True)


def main(rounds: int) -> None:
    from bench.workloads import System

    system = System("compat-pg", {"kind": "compat"})
    system.reset()
    proc = system.start_worker()
    try:
        system.tasks.noop.delay(0).get(timeout=120)
        time.sleep(1)
        show("after 1 task", proc.pid)
        for n in range(1, rounds + 1):
            before = system.results()
            system.group(system.tasks.noop.s(i) for i in range(GROUP)).apply_async()
            deadline = time.monotonic() + 300
            while system.results() < before + GROUP:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the drain did not finish; see {system.log_path}")
                time.sleep(0.2)
            time.sleep(0.5)
            show(f"after {GROUP * n + 1:,} tasks", proc.pid)
    finally:
        system.stop_worker(proc)
        system.reset()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
