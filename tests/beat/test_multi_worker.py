"""Three ``runworker -B`` processes: each due run fires exactly once, none is missed.

Then a task added through the admin's add form fires on the same running
workers, without a restart. The workers run the project ``tests.beat.proj``
with two settings entries,
every second and every minute (crontab). Each run's task returns the run's
name and due instant (``periodic_task_due_at`` header), stored as its
TaskResult; the test counts results per due instant over a measured window.
``BEAT_E2E_WINDOW`` (seconds, default 62: one minute boundary is crossed)
sizes the window.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.utils import timezone

from celery_compat.beat.models import BeatEntryState, BeatRun, IntervalSchedule
from celery_compat.models import TaskResult
from tests.conftest import ROOT, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WINDOW = float(os.environ.get("BEAT_E2E_WINDOW", 62))
SETTINGS = "tests.beat.proj.settings"
UTC = dt.timezone.utc


class Workers:
    """``runworker -B`` children; output in files (a full pipe would block them)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def start(self, count: int, beat: bool = True, **env: str) -> None:
        for _ in range(count):
            i = len(self.procs)
            log = self.tmp_path / f"beat{i}.log"
            with open(log, "w") as out:
                proc = subprocess.Popen(
                    [sys.executable, "manage.py", "runworker", *(["-B"] if beat else []), "-P", "threads", "-c", "4",
                     "-n", f"beat{i}-{os.getpid()}@%h", "-l", "INFO"],
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                    env=subprocess_env(DJANGO_SETTINGS_MODULE=SETTINGS, **env),
                )
            self.procs.append((proc, log))

    def logs(self) -> str:
        return "\n".join(f"--- {log.name} ---\n{log.read_text()}" for _, log in self.procs)

    def wait_for_beat(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not all("beat: starting" in log.read_text() for _, log in self.procs):
            for proc, _ in self.procs:
                if proc.poll() is not None:
                    raise AssertionError(f"a worker exited rc={proc.returncode}\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"beat did not start in every worker within {timeout}s\n{self.logs()}")
            time.sleep(0.2)

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(tmp_path: Path):
    started = Workers(tmp_path)
    yield started
    for proc, _ in started.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def results_by_run() -> Counter:
    """How many tasks ran for each ``(entry name, due instant)``."""
    counts: Counter = Counter()
    for raw in TaskResult.objects.filter(status="SUCCESS").values_list("result", flat=True):
        value = json.loads(raw)
        if not (isinstance(value, list) and len(value) == 3):
            continue  # another task's result (celery.backend_cleanup at 04:00)
        name, due, _label = value
        counts[(name, dt.datetime.fromisoformat(due))] += 1
    return counts


def sleep_until(moment: dt.datetime) -> None:
    while (left := (moment - timezone.now()).total_seconds()) > 0:
        time.sleep(min(left, 1.0))


def test_three_workers_with_beat_fire_each_run_exactly_once(workers: Workers, admin_client) -> None:
    """Then, on the same running workers, a task added through the admin's add form fires without a restart."""
    workers.start(3)
    workers.wait_for_beat()
    window_start = timezone.now() + dt.timedelta(seconds=2)
    window_end = window_start + dt.timedelta(seconds=WINDOW)
    sleep_until(window_end)

    anchor = BeatEntryState.objects.get(name="every-second").anchor_at
    first = int((window_start - anchor).total_seconds()) + 1
    expected_seconds = [anchor + dt.timedelta(seconds=k) for k in range(first, 10**6)
                        if anchor + dt.timedelta(seconds=k) <= window_end]
    assert len(expected_seconds) >= WINDOW - 2
    minute = window_start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    expected_minutes = []
    while minute <= window_end:
        expected_minutes.append(minute)
        minute += dt.timedelta(minutes=1)
    assert expected_minutes, "the window must cross a minute boundary (BEAT_E2E_WINDOW >= 61)"
    expected = [("every-second", t) for t in expected_seconds] + [("every-minute", t) for t in expected_minutes]

    # Let the last runs of the window be executed.
    deadline = time.monotonic() + 120
    while any(results_by_run()[run] == 0 for run in expected) and time.monotonic() < deadline:
        time.sleep(0.5)
    counts = results_by_run()
    missed = [run for run in expected if counts[run] == 0]
    claimers = Counter(BeatRun.objects.values_list("hostname", flat=True))
    report = f"window {window_start.isoformat()} + {WINDOW}s; runs claimed per worker: {dict(claimers)}"
    print(report)
    assert not missed, f"{report}; missed: {missed[:10]}\n" + workers.logs()[-20000:]

    # The admin: an interval and a task added through the add forms reach the running workers.
    response = admin_client.post("/admin/celery_compat/intervalschedule/add/", {"every": 2, "period": "seconds"})
    assert response.status_code == 302
    response = admin_client.post("/admin/celery_compat/periodictask/add/", {
        "name": "from-admin", "task": "tests.beat.proj.tasks.record", "enabled": "on",
        "interval": IntervalSchedule.objects.get().pk, "args": '["admin"]', "kwargs": "{}", "headers": "{}",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    deadline = time.monotonic() + 90
    while sum(n for (name, _), n in results_by_run().items() if name == "from-admin") < 3:
        assert time.monotonic() < deadline, "the admin's task did not run 3 times in 90 s\n" + workers.logs()
        time.sleep(0.5)
    workers.stop()

    counts = results_by_run()
    doubled = {run: n for run, n in counts.items() if n > 1}
    assert not doubled, f"{report}; doubled: {doubled}"
    # Each task ran for a run that was claimed (nothing sent outside the claims).
    claimed = set(BeatRun.objects.values_list("name", "due_at"))
    assert set(counts) <= claimed, report
    # All three schedulers were running during the window.
    for proc, log in workers.procs:
        assert "beat: starting" in log.read_text()
