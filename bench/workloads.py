"""One system's workloads, run in a process of their own: ``python -m bench.workloads SYSTEM CONFIG``.

The orchestrator (:mod:`bench.run`) starts this once per system and run, so
Django settings, the database and the Celery flavour (``celery_compat`` or
real Celery) are this process's alone. It prints progress on stderr and one
JSON object (the measurements) as the last line of stdout.

Workloads, in order (each on empty tables / an empty Redis):

- ``delay``: ``noop.delay(i)`` from this process, autocommit;
- ``atomic``: 1,000 ``delay()`` inside one ``transaction.atomic()`` (real
  Celery + Redis has no transaction: the same 1,000 plain calls);
- ``group``: a ``group`` of N ``noop.s(i)`` published at once (built and
  published: the user's whole call);
- ``drain``/``drain_ignore``: a worker (prefork, concurrency 2) started on N
  queued tasks; throughput from its first claim to the last result stored
  (or, with ``ignore_result``, the last message acked); the worker's PSS
  (whole process tree) once the drain with results is done;
- ``latency``: an idle worker; ``stamp.delay()`` returns ``time.time()`` at
  the start of its body; the gap to the moment before ``delay()``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
POLL = 0.05  # seconds between two looks at a draining queue


def log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


# -- memory ---------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def pss_kib(pid: int) -> int:
    """Proportional set size of the process tree rooted at ``pid``, KiB."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


# -- the system under test --------------------------------------------------------


class System:
    """What differs between celery_compat and real Celery: apps, worker, counters."""

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.kind: str = config["kind"]  # "compat" or "celery"
        self.broker: str = config.get("broker", "django")
        self.uses_db = self.kind == "compat" or self.broker == "django"
        self.log_path = ROOT / "var" / "bench" / f"{name}-worker.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.uses_db:
            import django

            django.setup()
        if self.kind == "compat":
            from celery_compat import group

            from bench import compat_app as tasks
        else:
            from celery import group

            from bench import celery_app as tasks
        self.app, self.tasks, self.group = tasks.app, tasks, group
        self.redis: Any = None
        if self.kind == "celery":
            import redis

            base = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
            self.results_redis = redis.Redis.from_url(f"{base}/{os.environ.get('BENCH_RESULT_DB', '14')}")
            if self.broker == "redis":
                self.redis = redis.Redis.from_url(f"{base}/{os.environ.get('BENCH_BROKER_DB', '15')}")

    # tables and keys

    def reset(self) -> None:
        """Empty queues and results: every workload starts from clean tables."""
        if self.uses_db:
            from django.db import connection

            from celery_compat.models import GroupResult, TaskResult
            from kombu_transport_django.models import Message

            tables = [Message._meta.db_table]
            if self.kind == "compat":
                tables += [TaskResult._meta.db_table, GroupResult._meta.db_table]
            with connection.cursor() as cursor:
                for table in tables:
                    if connection.vendor == "sqlite":
                        cursor.execute(f"DELETE FROM {table}")
                    else:
                        cursor.execute(f"TRUNCATE TABLE {connection.ops.quote_name(table)}")
            if connection.vendor == "sqlite":
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if self.kind == "celery":
            self.results_redis.flushdb()
            if self.redis is not None:
                self.redis.flushdb()

    def queued(self) -> int:
        """Messages of queue ``celery`` not yet acked (waiting or delivered)."""
        if self.redis is not None:
            keys = ["celery"] + [f"celery\x06\x16{p}" for p in (3, 6, 9)]
            pipe = self.redis.pipeline()
            for key in keys:
                pipe.llen(key)
            pipe.hlen("unacked")
            return sum(pipe.execute())
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM django_kombu_message WHERE queue = %s", ["celery"])
            return int(cursor.fetchone()[0])

    def results(self) -> int:
        """Results stored so far."""
        if self.kind == "celery":
            return int(self.results_redis.dbsize())
        from django.db import connection

        from celery_compat.models import TaskResult

        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {TaskResult._meta.db_table} WHERE status = 'SUCCESS'")
            return int(cursor.fetchone()[0])

    # workers

    def start_worker(self, *options: str) -> subprocess.Popen[bytes]:
        """The worker, prefork -c 2, with ``options`` added to its command line (``-Q a,b``)."""
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        common = ["-c", "2", "-P", "prefork", "-l", "WARNING", *options]
        if self.kind == "compat":
            cmd = [sys.executable, "-m", "django", "runworker", "-A", "bench.compat_app", *common]
            env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
        else:
            celery = str(Path(sys.executable).with_name("celery"))
            cmd = [celery, "-A", "bench.celery_app", "worker", *common,
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(self.log_path, "ab") as fh:
            return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    @staticmethod
    def stop_worker(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        try:  # children a warm stop left behind
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- workloads --------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def delay_rate(system: System, n: int) -> float:
    noop = system.tasks.noop
    noop.delay(0)  # connect, declare: not timed

    def run() -> None:
        for i in range(n):
            noop.delay(i)

    return n / timed(run)


def atomic_rate(system: System, n: int, batched: bool = False) -> float:
    """N ``delay()`` in one ``atomic()``; ``batched``: inside ``publish_batch`` too (ours only)."""
    noop = system.tasks.noop
    noop.delay(0)
    if not system.uses_db:
        return delay_rate(system, n)
    from contextlib import nullcontext

    from django.db import transaction

    def batch() -> Any:
        if not batched:
            return nullcontext()
        from celery_compat.bulk import publish_batch

        return publish_batch(system.app)

    def run() -> None:
        with transaction.atomic(), batch():
            for i in range(n):
                noop.delay(i)

    return n / timed(run)


def group_rate(system: System, task: Any, n: int) -> float:
    task.delay(-1)  # connect, declare: not timed; the drain counts it
    return n / timed(lambda: system.group(task.s(i) for i in range(n)).apply_async())


def time_to_done(system: System, proc: subprocess.Popen, timeout: float, what: str,
                 look: Callable[[], tuple[bool, bool]]) -> float:
    """Seconds from the first look that saw the worker begin to the first that saw it done.

    ``look`` returns (begun, done); it is called every ``POLL`` seconds while
    the worker runs, which fails the run if it exits or ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    started = None
    while True:
        now = time.monotonic()
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}; see {system.log_path}")
        if now > deadline:
            raise RuntimeError(f"{what} did not finish in {timeout:.0f}s; see {system.log_path}")
        begun, done = look()
        if started is None and begun:
            started = now
        if done:
            break
        time.sleep(POLL)
    assert started is not None
    return max(time.monotonic() - started, POLL)


def drain(system: System, n: int, with_results: bool, timeout: float) -> dict[str, Any]:
    """Start a worker on ``n`` queued tasks; tasks/s from its first claim to the end."""
    total = system.queued()
    proc = system.start_worker()
    out: dict[str, Any] = {}

    def look() -> tuple[bool, bool]:
        queued = system.queued()
        return queued < total, (system.results() >= total) if with_results else queued == 0

    try:
        elapsed = time_to_done(system, proc, timeout, f"drain of {total}", look)
        out["rate"] = total / elapsed
        out["seconds"] = elapsed
        if with_results:
            time.sleep(0.5)  # settled, idle
            out["pss_kib"] = pss_kib(proc.pid)
    finally:
        system.stop_worker(proc)
    return out


def latency(system: System, samples: int) -> list[float]:
    """delay() → body start on an idle worker, milliseconds."""
    stamp = system.tasks.stamp
    proc = system.start_worker()
    try:
        stamp.delay(0).get(timeout=120)  # the worker is up and has run once
        out = []
        for i in range(samples):
            time.sleep(random.uniform(0.3, 0.5))  # idle: polling back at its longest interval
            before = time.time()
            result = stamp.delay(i)
            started = result.get(timeout=30)
            out.append((started - before) * 1000)
        return out
    finally:
        system.stop_worker(proc)


def main() -> None:
    name, config = sys.argv[1], json.loads(sys.argv[2])
    n = config["n"]
    system = System(name, config)
    result: dict[str, Any] = {"system": name}

    def step(label: str, fn: Callable[[], Any]) -> Any:
        system.reset()
        value = fn()
        shown = f"{value:.1f}" if isinstance(value, float) else value
        log(f"{name}: {label} {shown}")
        return value

    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))  # for profiling

    def wanted(key: str) -> bool:
        return not only or key in only

    if wanted("delay"):
        result["delay"] = step("delay() /s", lambda: delay_rate(system, n["delay"]))
    if wanted("atomic"):
        result["atomic"] = step("1,000 delay() in atomic() /s", lambda: atomic_rate(system, n["atomic"]))
    if wanted("atomic_batch") and system.kind == "compat":
        result["atomic_batch"] = step("1,000 delay() in atomic() and publish_batch() /s",
                                      lambda: atomic_rate(system, n["atomic"], batched=True))
    timeout = n["drain"] / 20 + 120

    def drain_with(task: Any, with_results: bool) -> dict[str, Any]:
        result.setdefault("group", []).append(group_rate(system, task, n["drain"]))
        log(f"{name}: group of {n['drain']} published at {result['group'][-1]:.0f}/s")
        return drain(system, n["drain"], with_results, timeout)

    if wanted("drain"):
        drained = step("drain (results)", lambda: drain_with(system.tasks.noop, True))
        result["drain"], result["pss_kib"] = drained["rate"], drained["pss_kib"]
    if wanted("drain_ignore"):
        result["drain_ignore"] = step(
            "drain (ignore_result)", lambda: drain_with(system.tasks.noop_ignored, False)
        )["rate"]
    if wanted("latency"):
        system.reset()
        lat = latency(system, n["latency"])
        result["latency_ms"] = lat
        log(f"{name}: latency median {statistics.median(lat):.1f} ms, max {max(lat):.1f} ms")
    system.reset()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
