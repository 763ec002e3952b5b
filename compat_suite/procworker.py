"""A runtime's worker in a process of its own, for the scenarios that kill or restart workers.

``python -m compat_suite.procworker IMPL QUEUE HOSTNAME`` builds runtime
``IMPL`` (the same app and zoo as the suite's, the same broker and backend:
``COMPAT_PREFIX``, ``COMPAT_REFERENCE_DIR`` and ``DJANGO_TEST_DB_NAME`` come
from the parent), runs its worker on ``QUEUE`` (a short name, as for
``rt.q``) and prints ``ready``; it stops warm when its stdin closes, or dies
with the ``SIGKILL`` a scenario sends. :func:`process_worker` is the
parent's side.

Each side runs its embedded worker (real Celery's ``start_worker``,
celery_compat's ``start_worker``): the real consumer and pool, in this
process. Real Celery's is started without mingle, as Celery's
``start_worker`` always is: a worker started later learns nothing from the
live ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def process_worker(rt: Any, queue: str, name: str, timeout: float = 60.0) -> Iterator[subprocess.Popen]:
    """Run ``rt``'s worker on ``rt.q(queue)`` in a subprocess for the ``with`` block."""
    from django.db import connection

    from compat_suite import runtimes

    env = dict(os.environ)
    env.update(
        COMPAT_PREFIX=runtimes.PREFIX,
        DJANGO_TEST_DB_NAME=str(connection.settings_dict["NAME"]),
        DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings"),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    hostname = f"{name}-{rt.name}@{os.uname().nodename}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "compat_suite.procworker", rt.name, queue, hostname],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + timeout
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker process {hostname} exited: {''.join(lines)[-3000:]}")
            lines.append(line)
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError(f"worker process {hostname} not ready after {timeout}s")
        yield proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL: the worker gets no chance to give anything back."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def main(impl: str, queue: str, hostname: str) -> None:
    import django

    django.setup()
    from compat_suite.runtimes import RUNTIMES

    rt = RUNTIMES[impl]()
    rt.app, rt.t = rt.make_app()
    rt.app.finalize()
    options = dict(pool="threads", concurrency=2, perform_ping_check=False, queues=[rt.q(queue)],
                   hostname=hostname, shutdown_timeout=30)
    if impl == "celery_compat":
        from celery_compat.testing import start_worker
    else:
        import celery.contrib.testing.tasks  # noqa: F401  registers celery.ping

        from celery.contrib.testing.worker import start_worker
        options["loglevel"] = "WARNING"
    with start_worker(rt.app, **options):
        print("ready", flush=True)
        sys.stdin.read()  # until the parent closes it


if __name__ == "__main__":
    main(*sys.argv[1:4])
