"""A chord of 1,000 header tasks on two ``runworker`` processes (prefork, concurrency 2 each).

The body must run exactly once per chord, with all the header's results in
declared order, however the four pool children interleave their counter
decrements. ``CANVAS_BIG_CHORD_ROUNDS`` (default 1) repeats the chord,
``CANVAS_BIG_CHORD_SIZE`` (default 1000) sizes the header; the issue's
must-show is 20 rounds on PostgreSQL::

    CANVAS_BIG_CHORD_ROUNDS=20 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m pytest tests/canvas/test_big_chord.py -s
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from celery_compat import Celery, chord
from celery_compat.models import ChordCounter
from kombu_transport_django.models import Message
from tests.canvas.tasks import add, record
from tests.conftest import ROOT, subprocess_env
from tests.helpers.e2e import control_ready, read_lines, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROUNDS = int(os.environ.get("CANVAS_BIG_CHORD_ROUNDS", "1"))
SIZE = int(os.environ.get("CANVAS_BIG_CHORD_SIZE", "1000"))
SETTINGS = "tests.canvas.proj_settings"


@pytest.fixture
def runworker(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen, Path]]]:
    """Start ``manage.py runworker *args`` with the canvas tasks; waits until it consumes."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, Path]:
        name = f"canvas{len(started)}-{os.getpid()}"
        hostname = f"{name}@{socket.gethostname()}"
        log = tmp_path / f"{name}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "runworker", "-n", hostname, "-l", "INFO", *args],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                env=subprocess_env(DJANGO_SETTINGS_MODULE=SETTINGS),
            )
        started.append(proc)
        wait_until(f"{hostname} consuming", lambda: control_ready(hostname), 120, procs=[proc], log=log)
        return proc, log

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def _problems(workers: list[tuple[subprocess.Popen, Path]]) -> str:
    """The workers' warnings and errors (their logs are lost with old pytest temp folders)."""
    lines = []
    for proc, log in workers:
        text = log.read_text() if log.exists() else ""
        bad = [line for line in text.splitlines() if "WARNING" in line or "ERROR" in line or "CRITICAL" in line]
        lines.append(f"--- {log.name} (rc={proc.poll()}): {text.count('succeeded in')} succeeded; "
                     f"{len(bad)} warning/error lines, the last ones:")
        lines.extend(bad[-10:])
    return "\n".join(lines)


@pytest.mark.timeout(120 + 540 * ROUNDS)
def test_chord_of_1000_on_two_prefork_workers_runs_the_body_once(
    app: Celery, runworker: Callable[..., tuple[subprocess.Popen, Path]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workers = [runworker("-P", "prefork", "-c", "2") for _ in range(2)]
    expected = list(range(SIZE))
    timings = []
    for i in range(ROUNDS):
        started = time.monotonic()
        r = chord([add.s(n, 0) for n in range(SIZE)], record.s(str(tmp_path / f"body{i}"))).delay()
        try:
            # A generous bound against a hang, not a timing assertion.
            values = r.get(timeout=480)
        except Exception as exc:
            raise AssertionError(f"round {i}: {exc!r}\n{_problems(workers)}") from exc
        assert values == expected, f"round {i}"
        timings.append(time.monotonic() - started)
        with capsys.disabled():
            print(f"\nround {i}: {timings[-1]:.1f}s", end="", flush=True)
    # Every task message is gone (consumed and acked): nothing is left that
    # could still run a body a second time.
    wait_until("the queue to be empty", lambda: not Message.objects.filter(queue="celery").exists(), 120)
    for proc, log in workers:
        assert proc.poll() is None, log.read_text()
    for i in range(ROUNDS):
        assert read_lines(tmp_path / f"body{i}") == [repr(expected)], f"round {i}"
    assert not ChordCounter.objects.exists()
    # Both worker processes ran header tasks.
    for proc, log in workers:
        assert log.read_text().count("succeeded in") > 0, log.read_text()[-2000:]
    with capsys.disabled():
        print(f"\nchord of {SIZE} x {ROUNDS} rounds on 2 runworker -P prefork -c 2: "
              f"{', '.join(f'{t:.1f}s' for t in timings)} (total {sum(timings):.1f}s)")
