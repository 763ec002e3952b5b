"""What an idle worker costs the database: ``python -m bench.idle_cost [N] [SECONDS]``.

Fills the queue table on ``BENCH_DATABASE_URL`` (PostgreSQL; default as
``bench.cpu_split``) with N ready ``celery`` messages scheduled a day ahead
(one ``INSERT … SELECT generate_series``, then ``VACUUM ANALYZE``), starts
``runworker -c 2 -P prefork``, lets it settle idle, and reports the CPU the
PostgreSQL server processes spent over SECONDS (default 20) while the
worker had nothing to run: its polls, its wake-up lookups, its claims.
Empties the table afterwards. A probe for docs/benchmarks.md ("Messages
scheduled far ahead"), not part of ``python -m bench``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bench.cpu_split import cpu_seconds, postgres_pids

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"


def main(n: int, seconds: float) -> None:
    import django

    django.setup()
    from django.db import connection

    from kombu_transport_django.models import Message

    if connection.vendor != "postgresql":
        raise SystemExit(f"bench.idle_cost reads the PostgreSQL server's processes, not {connection.vendor}'s")
    table = connection.ops.quote_name(Message._meta.db_table)

    def sql(statement: str, params: list[object] | None = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)

    sql(f"TRUNCATE TABLE {table}")
    sql(f"INSERT INTO {table} (queue, payload, priority, status, available_at, created_at, delivery_count,"
        f" task_id, task_name, dead_reason) SELECT 'celery', '{{}}', 0, %s, now() + interval '1 day'"
        f" + g * interval '1 ms', now(), 0, 'scheduled-' || g, 'bench.noop', '' FROM generate_series(1, %s) g",
        [int(Message.Status.READY), n])
    sql(f"VACUUM ANALYZE {table}")
    cmd = [sys.executable, "-m", "django", "runworker", "-A", "bench.compat_app", "-c", "2", "-P", "prefork",
           "-l", "WARNING"]
    os.makedirs("var", exist_ok=True)
    with open("var/idle_cost-worker.log", "w") as log:
        worker = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(6)  # started, its first polls done
        connection.close()  # this process's backend idles: nothing of ours in the count

        def server() -> float:
            return sum(cpu_seconds(p) for p in postgres_pids())

        before = server()
        time.sleep(seconds)
        spent = server() - before
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
        sql(f"TRUNCATE TABLE {table}")
    print(f"idle worker, {n:,} messages scheduled ahead: PostgreSQL server CPU {spent * 1000:,.0f} ms "
          f"over {seconds:g} s ({spent / seconds:.1%} of a core)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, float(sys.argv[2]) if len(sys.argv) > 2 else 20.0)
