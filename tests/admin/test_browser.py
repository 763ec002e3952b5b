"""The admin of the test settings in a real browser (tests/admin/browser.py): log in, act, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from celery_compat import Celery, states
from celery_compat.models import TaskResult
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.admin.browser import open_browser, run_action, shot, wait
from tests.admin.tasks import add, fails

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = "admin-browser"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with open_browser(tmp_path / "chromium-profile") as driver:
        yield driver


def test_admin_in_chromium_reruns_a_failed_task_and_disables_a_schedule(
    app: Celery, admin_user: Any, live_server: Any, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    failed = fails.delay(9, label="browser")
    drain(app)
    add.apply_async((1, 2), queue="browser-queue", countdown=600)  # waits in its queue
    row = TaskResult.objects.get(task_id=failed.id)
    assert row.status == states.FAILURE

    # Log in.
    browser.get(f"{live_server.url}/admin/login/?next=/admin/celery_compat/taskresult/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("password")
    browser.find_element(By.CSS_SELECTOR, 'input[type="submit"]').click()
    wait(browser, "#result_list")
    shot(browser, SHOTS, "01-results")

    # The failed task's page: arguments, traceback and its log lines.
    browser.get(f"{live_server.url}/admin/celery_compat/taskresult/{row.pk}/change/")
    body = wait(browser, "#content").text
    assert "cannot handle 9 browser" in body and "about to fail with 9" in body
    shot(browser, SHOTS, "02-failed-task")

    # Re-run it from the list.
    browser.get(f"{live_server.url}/admin/celery_compat/taskresult/?status__exact=FAILURE")
    wait(browser, "#result_list")
    notice = run_action(browser, row.pk, "rerun")
    shot(browser, SHOTS, "03-rerun")
    rerun = Message.objects.get(task_name=fails.name)
    assert rerun.task_id != failed.id
    assert f"as {rerun.task_id}" in notice

    # The dashboard shows the failure and the queues.
    browser.get(f"{live_server.url}/admin/celery_compat/dashboard/")
    assert wait(browser, "#cc-failures").text.startswith("1")
    assert "browser-queue" in browser.find_element(By.ID, "cc-depths").text
    shot(browser, SHOTS, "04-dashboard")

    # Disable a periodic task (the beat admin).
    from celery_compat.beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=10, period="seconds")
    schedule = PeriodicTask.objects.create(name="browser tick", task=add.name, interval=every, args="[1, 1]")
    browser.get(f"{live_server.url}/admin/celery_compat/periodictask/")
    wait(browser, "#result_list")
    notice = run_action(browser, schedule.pk, "disable_tasks")
    shot(browser, SHOTS, "05-schedule-disabled")
    assert "1 periodic task disabled." in notice
    schedule.refresh_from_db()
    assert schedule.enabled is False
