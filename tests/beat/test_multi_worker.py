"""Three ``runworker -B`` processes: each due run fires exactly once, none is missed.

Then a task added through the admin's add form fires on the same running
workers, without a restart. The workers run the project ``tests.beat.proj``
with two settings entries,
every second and every minute (crontab). Each run's task returns the run's
name and due instant (``periodic_task_due_at`` header), stored as its
TaskResult; the test counts results per due instant over a measured window.
``BEAT_E2E_WINDOW`` (seconds, default 30, at least 10) sizes the window; it
is placed so that it contains a minute boundary, where the crontab fires.
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

WINDOW = max(float(os.environ.get("BEAT_E2E_WINDOW", 30)), 10.0)
#: seconds kept between the window's edges and the minute boundary inside it
MARGIN = 3.0
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


def lateness() -> list[float]:
    """Seconds from each run's due instant to its result being stored, sorted."""
    late = []
    for raw, done in TaskResult.objects.filter(status="SUCCESS").values_list("result", "date_done"):
        value = json.loads(raw)
        if isinstance(value, list) and len(value) == 3:
            late.append((done - dt.datetime.fromisoformat(value[1])).total_seconds())
    return sorted(late)


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


def place_window(earliest: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The first ``WINDOW``-long window starting at or after ``earliest`` that contains a minute boundary
    ``MARGIN`` seconds or more inside it (the every-minute entry fires there)."""
    boundary = (earliest + dt.timedelta(seconds=MARGIN)).replace(second=0, microsecond=0)
    if boundary < earliest + dt.timedelta(seconds=MARGIN):
        boundary += dt.timedelta(minutes=1)
    start = max(earliest, boundary - dt.timedelta(seconds=WINDOW - MARGIN))
    return start, start + dt.timedelta(seconds=WINDOW)


def test_three_workers_with_beat_fire_each_run_exactly_once(workers: Workers, admin_client) -> None:
    """Then, on the same running workers, a task added through the admin's add form fires without a restart."""
    phases = [("start", time.monotonic())]
    workers.start(3)
    workers.wait_for_beat()
    phases.append(("beat running in 3 workers", time.monotonic()))
    window_start, window_end = place_window(timezone.now() + dt.timedelta(seconds=2))
    sleep_until(window_end)
    phases.append(("window end", time.monotonic()))

    anchor = BeatEntryState.objects.get(name="every-second").anchor_at
    first = int((window_start - anchor).total_seconds()) + 1
    expected_seconds = []
    while (due := anchor + dt.timedelta(seconds=first + len(expected_seconds))) <= window_end:
        expected_seconds.append(due)
    assert len(expected_seconds) >= WINDOW - 2
    minute = window_start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    expected_minutes = []
    while minute <= window_end:
        expected_minutes.append(minute)
        minute += dt.timedelta(minutes=1)
    assert expected_minutes, (window_start, window_end)
    expected = [("every-second", t) for t in expected_seconds] + [("every-minute", t) for t in expected_minutes]

    # Let the last runs of the window be executed.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = results_by_run()
        if all(done[run] for run in expected):
            break
        time.sleep(0.5)
    phases.append(("window over, its runs executed", time.monotonic()))
    counts = results_by_run()
    missed = [run for run in expected if counts[run] == 0]
    claimers = Counter(BeatRun.objects.values_list("hostname", flat=True))
    late = lateness()
    report = (f"window {window_start.isoformat()} + {WINDOW}s; runs claimed per worker: {dict(claimers)}; "
              f"due -> result stored: median {late[len(late) // 2]:.2f}s, max {late[-1]:.2f}s")
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
    phases.append(("admin task ran 3 times", time.monotonic()))
    workers.stop()
    phases.append(("workers stopped", time.monotonic()))
    print(", ".join(f"{name}: +{at - phases[0][1]:.1f}s" for name, at in phases[1:]))

    counts = results_by_run()
    doubled = {run: n for run, n in counts.items() if n > 1}
    assert not doubled, f"{report}; doubled: {doubled}"
    # Each task ran for a run that was claimed (nothing sent outside the claims).
    claimed = set(BeatRun.objects.values_list("name", "due_at"))
    assert set(counts) <= claimed, report
    # All three schedulers were running during the window.
    for proc, log in workers.procs:
        assert "beat: starting" in log.read_text()
