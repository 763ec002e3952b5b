"""``celery_compat status --watch`` in a terminal: rich's live view, redrawn in place."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from celery_compat import Celery
from tests.conftest import ROOT, subprocess_env
from tests.worker.conftest import WORKER_SETTINGS
from tests.worker.proj.tasks import add

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_watch_draws_rich_tables_in_a_terminal(app: Celery) -> None:
    add.apply_async((1, 1), queue="q1")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "celery_compat", "status", "--watch", "--iterations", "2", "--interval", "0.2"],
        cwd=ROOT, stdin=follower, stdout=follower, stderr=follower, close_fds=True,
        env=subprocess_env(DJANGO_SETTINGS_MODULE=WORKER_SETTINGS, COLUMNS="120", TERM="xterm"),
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    out = b"".join(chunks).decode(errors="replace")
    assert out.count("queues at ") >= 2, out  # drawn, then redrawn (and drawn once more on exit)
    assert "┏" in out and "oldest waiting" in out and "finished tasks" in out  # rich tables, not plain text
    assert "\x1b[1A" in out  # the second frame moves the cursor up over the first
