"""Where a batched publish's time goes: ``python -m bench.publish_cost [N]``.

Inside ``publish_batch()`` a ``delay()`` runs no SQL: the rows are inserted
when the block ends. This times the two halves apart, on the bench's
PostgreSQL database (``BENCH_DATABASE_URL``, default the one ``python -m
bench`` migrates):

- the Python of N ``noop.delay(i)`` calls inside the block (routing, the
  protocol v2 message, kombu's producer, the row), the flush excluded;
- the flush: ``publish.insert`` of the same N rows, up to ``BATCH_ROWS``
  per statement.

Each is the best and the median of 7 rounds (per call, microseconds):
a single process on an otherwise idle machine is steady enough that a few
percent shows, which a whole ``python -m bench`` run cannot resolve.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")

ROUNDS = 7


def main(n: int) -> None:
    from bench.workloads import System

    system = System("compat-pg", {"kind": "compat"})  # sets Django up
    from django.db import connection

    from celery_compat.bulk import publish_batch
    from kombu_transport_django import publish

    noop = system.tasks.noop
    noop.delay(-1)  # connect, declare the queue
    python_us: list[float] = []
    insert_us: list[float] = []
    for _ in range(ROUNDS):
        system.reset()
        channel = system.app.producer().channel
        with publish_batch(system.app):
            started = time.perf_counter()
            for i in range(n):
                noop.delay(i)
            python_us.append((time.perf_counter() - started) / n * 1e6)
            rows, channel._buffer[:] = list(channel._buffer), []  # flushed below, timed apart
        started = time.perf_counter()
        publish.insert_all(connection, rows)
        insert_us.append((time.perf_counter() - started) / n * 1e6)
    system.reset()
    for label, values in (("delay() inside publish_batch, Python", python_us), ("insert of its row", insert_us)):
        print(f"{label}: best {min(values):.1f} us, median {statistics.median(values):.1f} us per message")
    total = min(python_us) + min(insert_us)
    print(f"together: {total:.1f} us per message, {1e6 / total:,.0f} messages/s at best")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
