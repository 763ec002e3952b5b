"""What storing one result costs the process that stores it: ``python -m bench.result_cost [N]``.

A prefork child stores each task's result itself (``backend.mark_as_done``,
one ``INSERT … ON CONFLICT`` in autocommit), and in a drain with results
that write is the biggest part of the child's CPU. This times N such writes
of a no-op's result (``1``, with a request as the worker passes it) on the
bench's PostgreSQL database, wall clock and this process's CPU per write,
beside N bare autocommit INSERTs of a short row from plain psycopg (no
Django, no model): the difference is what our Python and Django's cost.
Three rounds each; the lines show every round, the first warms up.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any, Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")


def _per_call(n: int, fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall clock and this process's CPU per call, µs, of ``fn`` running ``n`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6


def main(n: int) -> None:
    from bench.workloads import System

    system = System("compat-pg", {"kind": "compat"})  # sets Django up
    import psycopg

    from celery_compat.context import Context

    backend = system.app.backend

    def requests() -> list[Context]:
        out = []
        for i in range(n):
            task_id = str(uuid.uuid4())
            out.append(Context(id=task_id, task="bench.noop", args=[i], kwargs={}, hostname="bench@host",
                               retries=0, delivery_info={"routing_key": "celery"}, root_id=task_id))
        return out

    url = os.environ["BENCH_DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as bare:
        bare.execute("CREATE TEMP TABLE result_cost_probe (id bigserial, v text)")
        for round_ in range(3):
            system.reset()
            batch = requests()
            wall, cpu = _per_call(n, lambda: [backend.mark_as_done(r.id, 1, request=r) for r in batch])
            print(f"round {round_ + 1}: mark_as_done {wall:.0f} us wall, {cpu:.0f} us CPU per result", flush=True)
            wall, cpu = _per_call(n, lambda: [bare.execute("INSERT INTO result_cost_probe (v) VALUES (%s)", ("x",))
                                              for _ in range(n)])
            print(f"round {round_ + 1}: bare psycopg INSERT (temporary table) {wall:.0f} us wall, "
                  f"{cpu:.0f} us CPU per row", flush=True)
    system.reset()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
