"""Fixtures of the worker tests: an app on the test database, runworker children."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.conftest import ROOT, subprocess_env
from tests.helpers.e2e import control_ready, wait_until
from tests.helpers.fixtures import app_fixture, real_celery  # noqa: F401  fixtures

WORKER_SETTINGS = "tests.worker.proj.settings"

#: the ``events`` fixture: ``events(*signals)`` → the list it records into
Events = Callable[..., list[tuple[str, dict[str, Any]]]]


app = app_fixture("tests.worker", "tests.worker.proj.tasks")


@pytest.fixture
def events() -> Iterator[Events]:
    """``events(signal, ...)`` records each signal's sends as ``(name, kwargs)``."""
    recorded: list[tuple[str, dict[str, Any]]] = []
    connected = []

    def record(*signals_: Any) -> list[tuple[str, dict[str, Any]]]:
        for signal in signals_:
            def receiver(sender: Any = None, _name: str = signal.name, **kwargs: Any) -> None:
                kwargs.pop("signal", None)
                recorded.append((_name, dict(kwargs, sender=sender)))

            signal.connect(receiver, weak=False)
            connected.append((signal, receiver))
        return recorded

    yield record
    for signal, receiver in connected:
        signal.disconnect(receiver)


class RunWorker:
    """A ``manage.py runworker`` child process; its output goes to a file."""

    def __init__(self, proc: subprocess.Popen, hostname: str, log: Path) -> None:
        self.proc = proc
        self.hostname = hostname
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"runworker did not exit in {timeout}s\n{self.output()}") from None


#: the ``runworker`` fixture: ``runworker(*args, ready=True, **env)``
StartWorker = Callable[..., RunWorker]


@pytest.fixture
def runworker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``manage.py runworker`` on the test database; waits until it consumes.

    Output goes to a file, not a pipe: a chatty worker would fill a pipe
    nobody reads and block.
    """
    started: list[RunWorker] = []

    def start(*args: str, ready: bool = True, **env: str) -> RunWorker:
        name = f"w{len(started)}-{time.monotonic_ns() % 10**6}"
        log = tmp_path / f"{name}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "runworker", "-n", f"{name}@%h", "-l", "INFO", *args],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                env=subprocess_env(DJANGO_SETTINGS_MODULE=WORKER_SETTINGS,
                                   PROJ_EVENTS_FILE=str(tmp_path / "events"), **env),
            )
        worker = RunWorker(proc, f"{name}@{socket.gethostname()}", log)
        started.append(worker)
        if ready:
            wait_until(f"{worker.hostname} consuming", lambda: control_ready(worker.hostname), 60,
                       procs=[proc], log=log)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
        worker.proc.wait(timeout=30)
