"""The admin in a real browser: headless Chromium (Selenium) logs in and acts; screenshots are kept.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them) and the ``selenium`` package (the ``test`` extra). Without them the
test is skipped locally and FAILS in CI (``CI=true``). Screenshots go to
``var/artifacts/admin-browser/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from celery_compat import Celery, states
from celery_compat.models import TaskResult
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.admin.tasks import add, fails

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "admin-browser"
#: No network, no first-run UI, no background services: the browser only talks to the live server.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not _chromium():
        return "no Chromium binary (apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "no chromedriver (apt-get install chromium-driver)"
    return None


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    reason = _missing()
    if reason:
        if IN_CI:
            pytest.fail(f"the browser test must run in CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    options = Options()
    options.binary_location = _chromium()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(120)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: Any, name: str) -> None:
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"


def _wait(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def _run_action(driver: Any, pk: Any, action: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.find_element(By.CSS_SELECTOR, f'input[name="_selected_action"][value="{pk}"]').click()
    Select(driver.find_element(By.NAME, "action")).select_by_value(action)
    driver.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()
    return _wait(driver, "ul.messagelist").text


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
    _wait(browser, "#result_list")
    _shot(browser, "01-results")

    # The failed task's page: arguments, traceback and its log lines.
    browser.get(f"{live_server.url}/admin/celery_compat/taskresult/{row.pk}/change/")
    body = _wait(browser, "#content").text
    assert "cannot handle 9 browser" in body and "about to fail with 9" in body
    _shot(browser, "02-failed-task")

    # Re-run it from the list.
    browser.get(f"{live_server.url}/admin/celery_compat/taskresult/?status__exact=FAILURE")
    _wait(browser, "#result_list")
    notice = _run_action(browser, row.pk, "rerun")
    _shot(browser, "03-rerun")
    rerun = Message.objects.get(task_name=fails.name)
    assert rerun.task_id != failed.id
    assert f"as {rerun.task_id}" in notice

    # The dashboard shows the failure and the queues.
    browser.get(f"{live_server.url}/admin/celery_compat/dashboard/")
    assert _wait(browser, "#cc-failures").text.startswith("1")
    assert "browser-queue" in browser.find_element(By.ID, "cc-depths").text
    _shot(browser, "04-dashboard")

    # Disable a periodic task (the beat admin).
    from celery_compat.beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=10, period="seconds")
    schedule = PeriodicTask.objects.create(name="browser tick", task=add.name, interval=every, args="[1, 1]")
    browser.get(f"{live_server.url}/admin/celery_compat/periodictask/")
    _wait(browser, "#result_list")
    notice = _run_action(browser, schedule.pk, "disable_tasks")
    _shot(browser, "05-schedule-disabled")
    assert "1 periodic task disabled." in notice
    schedule.refresh_from_db()
    assert schedule.enabled is False
