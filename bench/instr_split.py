"""Instructions per task of a drain's worker: ``python -m bench.instr_split [N] [noop|noop_ignored]``.

``bench.cpu_split`` reports CPU time per task, which on a shared 2-core
machine swings by a third between two runs of the same tree: a change worth
3% cannot be seen in it. This counts instructions instead, which do not
depend on how fast the machine is at the moment. It runs the same
``runworker -c 2 -P prefork`` on ``BENCH_DATABASE_URL`` under valgrind's
callgrind (forked processes are followed: the fork server and its
children) twice, through a group of N tasks and through one of N/4, each
time from start to a warm shutdown, and prints the difference per task:
the instructions of the worker's parent and of its other processes (the
pool's children) per task, start-up and shutdown cancelled out. (Not with
``callgrind_control``: it does not reach forked children.) The database
server is not counted. Everything runs 30-50 times slower than natively,
so N is a few hundred.

Not fully deterministic: what a task costs depends a little on timing (how
many messages one claim takes, whether a child's next job is already in
its pipe), which valgrind, running one thread at a time, changes too; runs
of one tree differ by a few percent, not by a third. Compare trees with
interleaved runs, as with ``cpu_split``. Needs valgrind (Debian package
``valgrind``). A probe for docs/benchmarks.md, not part of ``python -m bench``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

OUT_DIR = "var/instr_split"
#: how long the worker may take to start under valgrind (imports, fork server, children)
START_TIMEOUT = 300.0


def _totals(pattern: str) -> dict[int, int]:
    """Instructions (``Ir``) per pid in the callgrind outputs matching ``pattern``."""
    totals: dict[int, int] = {}
    for path in glob.glob(pattern):
        pid = int(path.rsplit(".", 1)[1])  # callgrind.<pid>, written when the process exits
        with open(path) as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    totals[pid] = int(line.split()[1])
                    break
    return totals


def _run(n: int, task_name: str) -> tuple[int, int, float]:
    """One worker under callgrind through N tasks: (parent's, other processes' instructions, tasks/s)."""
    from django.db import connection

    import bench.compat_app as tasks
    from celery_compat import group
    from celery_compat.models import TaskResult
    from kombu_transport_django.models import Message

    task = getattr(tasks, task_name)
    with connection.cursor() as cursor:
        for model in (Message, TaskResult):
            cursor.execute(f"TRUNCATE TABLE {connection.ops.quote_name(model._meta.db_table)}")
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    os.makedirs(OUT_DIR)
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={OUT_DIR}/callgrind.%p", "--dump-line=no",
           sys.executable, "-m", "django", "runworker", "-A", "bench.compat_app", "-c", "2", "-P", "prefork",
           "-l", "WARNING"]
    with open(f"{OUT_DIR}/worker.log", "w") as log:
        worker = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Started: one task through it (not counted apart: both runs have it).
        deadline = time.monotonic() + START_TIMEOUT
        probe = task.delay(0)
        while not TaskResult.objects.filter(task_id=probe.id).exists() and Message.objects.exists():
            if time.monotonic() > deadline or worker.poll() is not None:
                sys.exit(f"the worker did not start; see {OUT_DIR}/worker.log")
            time.sleep(0.5)
        started = time.monotonic()
        group(task.s(i) for i in range(n)).apply_async()
        done = TaskResult.objects.filter(status="SUCCESS")
        while Message.objects.exists() or (not task.ignore_result and done.count() < n + 1):
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)  # a warm shutdown: every process writes its counts
        worker.wait()
    counts = _totals(f"{OUT_DIR}/callgrind.*")
    parent = counts.pop(worker.pid, 0)
    if len(counts) < 3:  # the fork server and two children
        sys.exit(f"only {len(counts)} other processes wrote their counts; see {OUT_DIR}/worker.log")
    return parent, sum(counts.values()), n / elapsed


def main(n: int, task_name: str) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("bench.instr_split needs valgrind (Debian: apt-get install valgrind)")
    import django

    django.setup()
    small = max(1, n // 4)
    parent_n, others_n, rate = _run(n, task_name)
    parent_s, others_s, _ = _run(small, task_name)
    per_parent, per_others = (parent_n - parent_s) / (n - small), (others_n - others_s) / (n - small)
    print(f"{task_name}, N={n} minus N={small}: {rate:.1f}/s under valgrind; instructions per task "
          f"(millions): worker parent {per_parent / 1e6:.3f}, its other processes {per_others / 1e6:.3f}, "
          f"total {(per_parent + per_others) / 1e6:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400, sys.argv[2] if len(sys.argv) > 2 else "noop")
