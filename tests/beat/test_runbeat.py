"""``manage.py runbeat`` beside a worker without -B: the scheduler alone sends the runs; SIGTERM stops it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from celery_compat.beat.models import BeatRun
from tests.beat.test_multi_worker import Workers, results_by_run, workers  # noqa: F401  (fixture)
from tests.conftest import ROOT, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_runbeat_sends_and_a_plain_worker_runs(tmp_path: Path, workers: Workers) -> None:  # noqa: F811
    log = tmp_path / "runbeat.log"
    with open(log, "w") as out:
        beat = subprocess.Popen(
            [sys.executable, "manage.py", "runbeat", "-n", "solo-beat", "-l", "INFO",
             "-S", "django_celery_beat.schedulers:DatabaseScheduler"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env=subprocess_env(DJANGO_SETTINGS_MODULE="tests.beat.proj.settings"),
        )
    try:
        workers.start(1, beat=False)
        deadline = time.monotonic() + 120
        while sum(n for (name, _), n in results_by_run().items() if name == "every-second") < 3:
            assert beat.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text() + workers.logs()
            time.sleep(0.5)
        beat.send_signal(signal.SIGTERM)
        assert beat.wait(timeout=60) == 0, log.read_text()
        assert "beat: stopped" in log.read_text()
    finally:
        if beat.poll() is None:
            beat.kill()
            beat.wait()
    workers.stop()
    assert set(BeatRun.objects.values_list("hostname", flat=True)) == {"solo-beat"}
    assert all(n == 1 for n in results_by_run().values()), results_by_run()


def test_runbeat_refuses_a_bad_entry(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "runbeat"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=subprocess_env(DJANGO_SETTINGS_MODULE="tests.beat.proj.settings", BEATPROJ_BAD_ENTRY="1"),
    )
    assert result.returncode == 1
    assert "beat_schedule['bad']: 'schedule' is missing" in result.stderr


def test_runworker_b_refuses_a_bad_entry_before_starting() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "runworker", "-B", "-P", "solo"], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env=subprocess_env(DJANGO_SETTINGS_MODULE="tests.beat.proj.settings", BEATPROJ_BAD_ENTRY="1"),
    )
    assert result.returncode == 1, result.stderr
    assert "-B: beat_schedule['bad']: 'schedule' is missing" in result.stderr
