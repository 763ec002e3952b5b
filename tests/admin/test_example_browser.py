"""The example project's admin in a real browser, as a newcomer meets it.

The project of ``example/`` runs as its own processes on a fresh SQLite
file: ``manage.py migrate``, a task that fails run by ``runworker
--until-empty``, ``manage.py runserver``. Headless Chromium logs into its
admin, re-runs the failed task and disables a periodic task; the outcome is
read back from the project's database. Screenshots: ``var/artifacts/example-admin/``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.admin.browser import log_in, open_browser, run_action, shot, wait

ROOT = Path(__file__).resolve().parents[2]
SHOTS = "example-admin"

SETUP = """
from django.contrib.auth import get_user_model
from celery_compat.beat.models import IntervalSchedule, PeriodicTask
from shop.tasks import send_receipt

get_user_model().objects.create_superuser("admin", "admin@example.com", "password")
every = IntervalSchedule.objects.create(every=10, period="seconds")
PeriodicTask.objects.create(name="nightly export", task="shop.tasks.build_sales_report", interval=every)
send_receipt.delay(424242)  # no such order: the task fails (Order.DoesNotExist)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The example project on its own SQLite file, its failed task stored, its web server running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(EXAMPLE_VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT))

    def manage(*args: str, timeout: float = 120) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT / "example", env=env,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    manage("migrate", "--noinput")
    manage("shell", "-c", SETUP)
    manage("runworker", "-P", "solo", "--until-empty", "-l", "WARNING", timeout=180)
    port = _free_port()
    log = (tmp_path / "runserver.log").open("w")
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                              cwd=ROOT / "example", env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/admin/login/", timeout=5).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"runserver did not answer: {(tmp_path / 'runserver.log').read_text()}")
                time.sleep(0.2)
        yield {"url": url, "db": tmp_path / "db.sqlite3"}
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def _query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_example_admin_in_chromium_reruns_a_failed_task_and_disables_a_schedule(
    project: dict[str, Any], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    url, db = project["url"], project["db"]
    [(pk, failed_id)] = _query(db, "SELECT id, task_id FROM celery_compat_taskresult WHERE status = 'FAILURE' "
                                   "AND task_name = 'shop.tasks.send_receipt'")
    with open_browser(tmp_path / "chromium-profile") as browser:
        log_in(browser, url, "/admin/celery_compat/taskresult/")
        wait(browser, "#result_list")
        shot(browser, SHOTS, "01-results")

        # The failed task's page says why it failed.
        browser.get(f"{url}/admin/celery_compat/taskresult/{pk}/change/")
        assert "DoesNotExist" in wait(browser, "#content").text
        shot(browser, SHOTS, "02-failed-task")

        # Re-run it from the list: a new message for the same task and arguments.
        browser.get(f"{url}/admin/celery_compat/taskresult/?status__exact=FAILURE")
        wait(browser, "#result_list")
        notice = run_action(browser, pk, "rerun")
        shot(browser, SHOTS, "03-rerun")
        [(new_id, payload)] = _query(db, "SELECT task_id, payload FROM django_kombu_message "
                                         "WHERE task_name = 'shop.tasks.send_receipt'")
        assert new_id != failed_id and f"as {new_id}" in notice
        assert "424242" in payload

        # Disable the periodic task.
        [(schedule_pk,)] = _query(db, "SELECT id FROM celery_compat_periodictask WHERE name = 'nightly export'")
        browser.get(f"{url}/admin/celery_compat/periodictask/")
        wait(browser, "#result_list")
        notice = run_action(browser, schedule_pk, "disable_tasks")
        shot(browser, SHOTS, "04-schedule-disabled")
        assert "1 periodic task disabled." in notice
        assert _query(db, "SELECT enabled FROM celery_compat_periodictask WHERE id = ?", schedule_pk) == [(0,)]
        assert browser.find_element(By.ID, "result_list")
