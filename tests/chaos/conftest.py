"""Fixtures of the chaos suite: runworker processes on the chaos settings."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import ROOT, subprocess_env
from tests.chaos.harness import RunWorker, StartWorker, consuming, wait_until

CHAOS_SETTINGS = "tests.chaos.settings"


@pytest.fixture
def chaos_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """``chaos_worker(*args, ready=True)``: ``manage.py runworker`` on the chaos settings."""
    started: list[RunWorker] = []

    def start(*args: str, ready: bool = True, **env: str) -> RunWorker:
        name = f"chaos{len(started)}-{time.monotonic_ns() % 10**6}"
        log = tmp_path / f"{name}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "runworker", "-n", f"{name}@%h", "-l", "WARNING", *args],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                env=subprocess_env(DJANGO_SETTINGS_MODULE=CHAOS_SETTINGS, **env),
            )
        worker = RunWorker(proc, f"{name}@{socket.gethostname()}", log)
        started.append(worker)
        if ready:
            wait_until(f"{worker.hostname} consuming", lambda: consuming(worker.hostname), 90,
                       procs=[proc], log=log)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
        worker.proc.wait(timeout=30)


@pytest.fixture
def producers(tmp_path: Path) -> Iterator:
    """``producers(task, ledger, prefix, count, n=1, **opts)``: producer processes (``env``: extra variables)."""
    procs: list[subprocess.Popen] = []

    def start(task: str, ledger: Path, prefix: str, count: int, n: int = 1,
              batch: int = 100, seconds: float = 0.0, pause: float = 0.0,
              env: dict[str, str] | None = None) -> list[subprocess.Popen]:
        per = count // n
        batch_procs = []
        for k in range(n):
            first = k * per
            size = per if k < n - 1 else count - first
            log = open(tmp_path / f"producer-{prefix}-{k}.log", "w")
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.chaos.produce", "--task", task, "--ledger", str(ledger),
                 "--prefix", prefix, "--start", str(first), "--count", str(size),
                 "--batch", str(batch), "--seconds", str(seconds), "--pause", str(pause)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env=subprocess_env(DJANGO_SETTINGS_MODULE=CHAOS_SETTINGS, **(env or {})),
            )
            log.close()
            procs.append(proc)
            batch_procs.append(proc)
        return batch_procs

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def producer_output(tmp_path: Path, prefix: str) -> str:
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob(f"producer-{prefix}-*.log")))
