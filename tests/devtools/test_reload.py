"""``runworker --reload``: a changed module restarts the worker (Django's autoreloader)."""

from __future__ import annotations

import os
import signal
import subprocess
import socket
import sys
import time
from pathlib import Path

import pytest

from celery_compat import Celery
from tests.conftest import ROOT, subprocess_env
from tests.worker.conftest import WORKER_SETTINGS, wait_until
from tests.worker.proj import tasks
from tests.worker.proj.tasks import pid

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NAME = "reloading"


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """``manage.py runworker --reload`` in a session of its own: Ctrl+C goes to its group only."""
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "-n", f"{NAME}@%h", "-l", "INFO", *args],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=subprocess_env(DJANGO_SETTINGS_MODULE=WORKER_SETTINGS),
        )
    return proc, log


def test_reload_restarts_the_worker_on_a_code_change(app: Celery, tmp_path: Path) -> None:
    proc, log = start(tmp_path, "--reload", "-B", "-P", "solo")
    hostname = f"{NAME}@{socket.gethostname()}"
    ready = f"{hostname} ready."
    try:
        wait_until("the worker", lambda: log.read_text().count(ready) == 1, 60, procs=[proc], log=log)
        first = pid.delay().get(timeout=60)
        assert first != proc.pid  # the reloader's child runs the worker; the parent only restarts it

        # A module the worker imported changes. StatReloader compares each
        # file's mtime with the one it saw first, once a second, and may not
        # have looked at this file yet: touch it again until the restart.
        module = Path(tasks.__file__)
        deadline = time.monotonic() + 60
        while log.read_text().count(ready) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            later = time.time() + 2
            os.utime(module, (later, later))
            try:
                wait_until("the worker to restart", lambda: log.read_text().count(ready) == 2, 3, procs=[proc], log=log)
            except AssertionError:
                if proc.poll() is not None:
                    raise
        text = log.read_text()
        assert "tasks.py changed: stopping the worker (warm) to restart it" in text
        # -B: beat lives in the reloaded child, stopped and started with the worker.
        assert text.count("beat: stopped") == 1, text
        wait_until("beat to start again", lambda: log.read_text().count("beat: starting") == 2, 30, procs=[proc], log=log)
        second = pid.delay().get(timeout=60)
        assert second not in (first, proc.pid)
        assert proc.poll() is None

        # Ctrl+C in its terminal (SIGINT to the group): the child stops warmly
        # and the parent exits with the child's code, Celery's 1 for SIGINT.
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 1, log.read_text()
        assert "Warm shutdown" in log.read_text()
        with pytest.raises(ProcessLookupError):
            os.kill(second, 0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_reload_refuses_purge() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--purge with --reload would purge at every restart"):
        call_command("runworker", "--reload", "--purge")
