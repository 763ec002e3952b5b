"""The floor under one ``delay()``: ``python -m bench.insert_floor [N]``.

N autocommit INSERTs of a message-sized row into ``django_kombu_message``
(its indexes and NOTIFY trigger included) from plain psycopg on one
connection, with ``synchronous_commit`` on (durable, the default) and off,
and N ``LPUSH`` of the same payload to Redis (what a Celery + Redis
``delay()`` waits for). No Python of ours runs: no ``delay()`` on this
database can be faster than the first line.
Needs the bench database migrated (``python -m bench`` does it).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

import psycopg
import redis

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379") + "/12"
PAYLOAD = "x" * 1100  # about one noop task's kombu envelope
INSERT = (
    "INSERT INTO django_kombu_message (queue, payload, priority, status, available_at, expires_at, created_at, "
    "delivery_count, lease_owner, leased_until, task_id, task_name, dead_reason) "
    "VALUES (%s, %s, 0, 0, %s, NULL, %s, 0, NULL, NULL, %s, 'bench.noop', '') RETURNING id"
)


def main(n: int) -> None:
    with psycopg.connect(PG_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        for mode in ("on", "off"):
            conn.execute(f"SET synchronous_commit = {mode}")
            now = dt.datetime.now(dt.timezone.utc)
            started = time.perf_counter()
            for i in range(n):
                conn.execute(INSERT, ("insert_floor", PAYLOAD, now, now, f"floor-{i}"))
            elapsed = time.perf_counter() - started
            conn.execute("DELETE FROM django_kombu_message WHERE queue = 'insert_floor'")
            print(f"PostgreSQL INSERT, synchronous_commit={mode}: {n / elapsed:,.0f}/s ({elapsed / n * 1000:.3f} ms)")
    client = redis.Redis.from_url(REDIS_URL)
    started = time.perf_counter()
    for _ in range(n):
        client.lpush("insert_floor", PAYLOAD)
    elapsed = time.perf_counter() - started
    client.delete("insert_floor")
    print(f"Redis LPUSH: {n / elapsed:,.0f}/s ({elapsed / n * 1000:.3f} ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
