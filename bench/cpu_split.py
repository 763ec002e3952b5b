"""Where a drain's CPU goes: ``python -m bench.cpu_split [N] [noop|noop_ignored]``.

Starts a ``runworker -c 2 -P prefork`` on ``BENCH_DATABASE_URL`` (PostgreSQL
by default; the server must run on this machine, its processes are read from
/proc), publishes a group of N tasks once the worker is idle, and reports the
CPU milliseconds per task spent by the worker's parent process, its children
and the PostgreSQL server processes (the publisher's backend excluded; none
on SQLite, which runs inside the worker's processes) from
the first task published to the last result stored (or message acked). On a
machine with C cores, ``1000 / (total / C)`` tasks per second is the most
that CPU allows: when the measured rate is close to it, the drain is bound
by CPU, and only less work per task makes it faster.

A probe for docs/benchmarks.md, not part of ``python -m bench``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` so far (0 if it is gone)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def descendants(pid: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))):
            parents[int(entry)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        todo += kids
    return found


def postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "^postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def main(n: int, task_name: str) -> None:
    import django

    django.setup()
    from django.db import connection

    import bench.compat_app as tasks
    from celery_compat import group
    from celery_compat.models import TaskResult
    from kombu_transport_django.models import Message

    task = getattr(tasks, task_name)
    postgres = connection.vendor == "postgresql"
    publisher = None  # the PostgreSQL backend of this process, left out of the server's CPU
    with connection.cursor() as cursor:
        # TRUNCATE, not DELETE: the dead rows a DELETE leaves behind (this
        # machine's server runs with autovacuum off) slowed every later run.
        for model in (Message, TaskResult):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"TRUNCATE TABLE {table}" if postgres else f"DELETE FROM {table}")
        if postgres:
            cursor.execute("SELECT pg_backend_pid()")
            publisher = cursor.fetchone()[0]
    cmd = [sys.executable, "-m", "django", "runworker", "-A", "bench.compat_app", "-c", "2", "-P", "prefork",
           "-l", "WARNING"]
    with open("var/cpu_split-worker.log", "w") as log:
        worker = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(4)  # started and idle: its start-up is not counted
        group(task.s(i) for i in range(n)).apply_async()

        def sample() -> tuple[float, float, float]:
            # SQLite's work runs inside the worker's own processes.
            servers = [p for p in postgres_pids() if p != publisher] if postgres else []
            return (cpu_seconds(worker.pid), sum(cpu_seconds(p) for p in descendants(worker.pid)),
                    sum(cpu_seconds(p) for p in servers))

        before, started = sample(), time.monotonic()
        done = TaskResult.objects.filter(status="SUCCESS")
        while Message.objects.exists() or (not task.ignore_result and done.count() < n):
            time.sleep(0.05)
        elapsed, after = time.monotonic() - started, sample()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
    parent, children, server = ((a - b) * 1000 / n for a, b in zip(after, before))
    total = parent + children + server
    cores = os.cpu_count() or 1
    print(f"{task_name}, N={n}: {n / elapsed:.0f}/s; CPU ms per task: worker parent {parent:.2f}, "
          f"children {children:.2f}, {connection.display_name} server {server:.2f}, total {total:.2f} "
          f"(CPU-bound ceiling on {cores} cores: {1000 / (total / cores):.0f}/s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000, sys.argv[2] if len(sys.argv) > 2 else "noop")
