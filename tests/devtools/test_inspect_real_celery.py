"""``manage.py celery_compat inspect`` answered by a real ``celery worker`` on ``django://``.

The same broadcast ``runworker`` answers (tests/cli/test_inspect.py).
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from celery_compat import Celery
from tests.conftest import ROOT, subprocess_env
from tests.worker.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("celery_compat", *args, stdout=out)
    return out.getvalue()


def test_inspect_a_real_celery_worker(app: Celery, tmp_path: Path) -> None:
    """The same command, answered by Celery's own worker on django://."""
    results = tmp_path / "results"
    results.mkdir()
    node = f"real-{tmp_path.name[-6:]}@{socket.gethostname()}"
    log = tmp_path / "celery.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.helpers.celery_app", "worker",
             "-P", "solo", "-l", "INFO", "-n", node],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env=subprocess_env(CELERY_RESULT_DIR=str(results), CELERY_CONTROL_QUEUE_EXPIRES="5"),
        )
    try:
        def pinged() -> str | None:
            try:
                return run("inspect", "ping", "-d", node, "-t", "0.5")
            except CommandError:
                return None

        ping = wait_until("the Celery worker answering ping", pinged, 60, procs=[proc], log=log)
        assert ping == f"->  {node}: OK\n        pong\n\n1 node online.\n"
        registered = run("inspect", "registered", "-d", node)
        assert "    * tests.helpers.celery_app.add\n" in registered
        active_queues = json.loads(run("inspect", "active_queues", "-j", "-d", node))
        assert [q["name"] for q in active_queues[node]] == ["celery"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
