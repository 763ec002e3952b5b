"""huey on SQLite, the competitor of the SQLite target: ``python bench/huey_workload.py CONFIG``.

Runs with the Python of the separate virtualenv that :mod:`bench.run` makes
for huey (``var/bench-venvs/huey``): it imports huey and the standard
library only, never Django or the project, so huey is not a dependency of
the project. It prints progress on stderr and one JSON object (the
measurements, keyed as in :mod:`bench.workloads`) as the last line of stdout.
The same module is the huey application that ``huey_consumer`` imports
(``huey_workload.huey``).

Workloads (``BENCH_ONLY`` picks them, as in :mod:`bench.workloads`):

- ``delay``: N ``noop(i)`` calls (huey's enqueue) from this process;
- ``drain_ignore``: N ``noop(i)`` queued, then huey's own consumer
  (``huey_consumer -k thread -w 2``, results off) started on them; tasks/s
  from the first task's start to the N-th task's completion, both stamped in
  the consumer by huey's signals, then checked: N completed, queue empty.

The database is ``var/bench/huey.sqlite3``, created anew for every run
(huey's defaults: WAL, SQLite's default ``synchronous``).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from huey import SqliteHuey
from huey.signals import SIGNAL_COMPLETE, SIGNAL_EXECUTING

ROOT = Path(__file__).resolve().parent.parent
DB = ROOT / "var" / "bench" / "huey.sqlite3"
LOG = ROOT / "var" / "bench" / "huey-sqlite-worker.log"
POLL = 0.05  # seconds between two looks for the consumer's end marker

# -q: warnings only (huey logs two INFO lines per task otherwise; the other
# workers run with -l WARNING). -n: no periodic tasks (there are none).
# -d/-m: a worker that finds the queue empty (or locked) looks again after
# 1 ms, backing off to 50 ms at most, where huey's default starts at 100 ms
# and backs off to 10 s; in a drain of a full queue neither is reached.
# BENCH_HUEY_OPTIONS replaces them all, to compare settings (docs/benchmarks.md).
CONSUMER_OPTIONS = os.environ.get("BENCH_HUEY_OPTIONS", "-k thread -w 2 -q -n -d 0.001 -m 0.05 -b 1.15").split()

DB.parent.mkdir(parents=True, exist_ok=True)
# results=False: no result is stored, as with the other systems' ignore_result.
huey = SqliteHuey("bench", filename=str(DB), results=False)


@huey.task()
def noop(i: int) -> int:
    return i


# -- the consumer's side: completions counted by huey's signals -----------------

_expected = int(os.environ.get("BENCH_HUEY_N", "0"))
_done_path = os.environ.get("BENCH_HUEY_DONE")
_completed = itertools.count(1)  # next() on it is atomic under the GIL: safe from 2 threads
_first: list[float] = []

if _expected and _done_path:  # only in the consumer started by drain()

    @huey.signal(SIGNAL_EXECUTING)
    def _first_start(signal_name: str, task: Any) -> None:
        if not _first:
            _first.append(time.monotonic())

    @huey.signal(SIGNAL_COMPLETE)
    def _count(signal_name: str, task: Any) -> None:
        count = next(_completed)
        if count == _expected:
            marks = {"first": _first[0], "last": time.monotonic(), "count": count}
            tmp = Path(f"{_done_path}.tmp")
            tmp.write_text(json.dumps(marks))
            tmp.replace(_done_path)  # the driver never reads a half-written file


# -- the driver's side ------------------------------------------------------------


def log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def fresh_database() -> None:
    """Delete the database files and create huey's tables again: every run starts empty."""
    huey.storage.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    huey.storage.initialize_schema()


def enqueue_rate(n: int) -> float:
    huey.flush()
    noop(-1)  # connect: not timed, as the first delay() of the other systems
    start = time.perf_counter()
    for i in range(n):
        noop(i)
    return n / (time.perf_counter() - start)


def start_consumer(n: int, done: Path) -> subprocess.Popen[bytes]:
    consumer = Path(sys.executable).with_name("huey_consumer")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent),
               BENCH_HUEY_N=str(n), BENCH_HUEY_DONE=str(done))
    with open(LOG, "ab") as fh:
        return subprocess.Popen([str(consumer), "huey_workload.huey", *CONSUMER_OPTIONS], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def stop_consumer(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # huey's graceful stop
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def drain(n: int, timeout: float) -> dict[str, float]:
    """Queue ``n`` tasks, start huey's consumer on them; tasks/s from the first start to the last completion."""
    huey.flush()
    for i in range(n):
        noop(i)
    queued = huey.pending_count()
    if queued != n:
        raise RuntimeError(f"{queued} tasks queued, {n} expected")
    done = DB.with_name("huey-drain.done")
    done.unlink(missing_ok=True)
    proc = start_consumer(n, done)
    try:
        deadline = time.monotonic() + timeout
        while not done.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"huey_consumer exited with {proc.returncode}; see {LOG}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"drain of {n} did not finish in {timeout:.0f}s; see {LOG}")
            time.sleep(POLL)
        marks = json.loads(done.read_text())
        done.unlink()
        left = huey.pending_count()
    finally:
        stop_consumer(proc)
    if marks["count"] != n or left:
        raise RuntimeError(f"{marks['count']} of {n} completed, {left} left in the queue")
    seconds = marks["last"] - marks["first"]
    return {"rate": n / seconds, "seconds": seconds}


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    n = config["n"]
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
    result: dict[str, Any] = {"system": "huey-sqlite"}

    def step(key: str, label: str, fn: Callable[[], float]) -> None:
        if only and key not in only:
            return
        result[key] = fn()
        log(f"huey-sqlite: {label} {result[key]:.1f}")

    fresh_database()
    step("delay", "enqueue /s", lambda: enqueue_rate(n["delay"]))
    step("drain_ignore", "drain (no results) /s", lambda: drain(n["drain"], n["drain"] / 20 + 120)["rate"])
    huey.storage.close()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    # Task names include their module: run as ``huey_workload``, the name the
    # consumer imports, not ``__main__`` (this file's top runs twice, harmlessly).
    import huey_workload

    sys.exit(huey_workload.main(sys.argv))
