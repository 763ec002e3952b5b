"""What publishing a group costs: ``python -m bench.group_cost [N] [ROUNDS]``.

Times ``group(noop.s(i) for i in range(N)).apply_async()`` on the bench's
PostgreSQL database (``BENCH_DATABASE_URL``, default the one ``python -m
bench`` migrates), in this one process, ROUNDS times (3 by default): the
rate, and the publishing process's CPU per task (``time.process_time``,
which leaves out the waits on the server, so it moves less with the
machine's load than the rate does). Run it from two trees in turn (a
``git worktree`` of the commit before) to compare a change; a whole
``python -m bench`` run has a 5-7% swing here. ``--profile`` prints the
last round's cProfile instead, by own time (``SORT=cumulative`` and
``TOP=60`` in the environment change the order and the length).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")


def main(n: int, rounds: int, profile: bool) -> None:
    from bench.workloads import System

    system = System("compat-pg", {"kind": "compat"})  # sets Django up
    from celery_compat import group

    noop = system.tasks.noop
    noop.delay(-1)  # connect, declare the queue
    for number in range(rounds):
        system.reset()
        profiler = cProfile.Profile() if profile and number == rounds - 1 else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        group(noop.s(i) for i in range(n)).apply_async()
        if profiler is not None:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"round {number + 1}: {n / elapsed:,.0f} tasks/s, {cpu / n * 1e6:.1f} us CPU per task"
              + (" (profiled)" if profiler is not None else ""))
        if profiler is not None:
            pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "tottime")).print_stats(int(os.environ.get("TOP", "30")))
    system.reset()


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else 10_000, int(arguments[1]) if len(arguments) > 1 else 3,
         "--profile" in sys.argv)
