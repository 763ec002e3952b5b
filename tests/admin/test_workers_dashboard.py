"""Workers and the dashboard: rows written by real workers, numbers that match the tables."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from celery_compat import Celery, states
from celery_compat import models as compat_models
from celery_compat.dashboard import throughput
from celery_compat.models import TaskResult, Worker
from celery_compat.testing import start_worker
from kombu_transport_django.models import Message
from tests.admin.tasks import add

DASHBOARD_URL = "/admin/celery_compat/dashboard/"


def _wait_for(condition: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout}s: {condition}")


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_reports_itself_and_its_running_tasks(
    app: Celery, admin_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compat_models, "WORKER_HEARTBEAT_INTERVAL", 0.2)
    from tests.admin.tasks import sleeper

    with start_worker(app, pool="threads", concurrency=2, hostname="celery@admin-test",
                      perform_ping_check=False) as worker:
        row = _wait_for(lambda: Worker.objects.filter(hostname="celery@admin-test").first())
        assert (row.pool, row.concurrency, row.stopped_at) == ("threads", 2, None)
        assert row.is_online()
        result = sleeper.delay(3)
        running = _wait_for(lambda: Worker.objects.get(hostname=worker.hostname).active_tasks())
        assert [(task["id"], task["name"]) for task in running] == [(result.id, sleeper.name)]

        html = admin_client.get(reverse("admin:celery_compat_worker_changelist")).content.decode()
        assert "celery@admin-test" in html and "online" in html
        page = admin_client.get(reverse("admin:celery_compat_worker_change", args=[row.pk])).content.decode()
        assert result.id in page
        assert result.get(timeout=30) == 3

    stopped = Worker.objects.get(hostname="celery@admin-test")
    assert stopped.stopped_at is not None and not stopped.is_online() and stopped.processed >= 1
    assert "stopped" in admin_client.get(reverse("admin:celery_compat_worker_changelist")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_running_task_progress_shows_in_the_results_list(app: Celery, admin_client: Any) -> None:
    from tests.admin.tasks import RELEASE, progressing

    RELEASE.clear()
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False):
        result = progressing.delay(8)
        try:
            _wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status="PROGRESS").exists())
            html = admin_client.get(reverse("admin:celery_compat_taskresult_changelist")).content.decode()
            assert '<progress class="cc-progress" value="4" max="8" title="50%"></progress> 4/8 (50%)' in html
        finally:
            RELEASE.set()
        assert result.get(timeout=30) == 8
    html = admin_client.get(reverse("admin:celery_compat_taskresult_changelist")).content.decode()
    assert "cc-progress" not in html  # finished: no bar


def _finished_at(task_id: str, status: str, when: dt.datetime) -> None:
    TaskResult.objects.create(task_id=task_id, status=status, content_type="application/json",
                              content_encoding="utf-8", task_name="tests.admin.tasks.add")
    TaskResult.objects.filter(task_id=task_id).update(date_done=when)  # auto_now: set it afterwards


@pytest.mark.django_db
def test_dashboard_charts_match_the_rows(app: Celery, admin_client: Any) -> None:
    now = timezone.now()
    this_minute = now.replace(second=0, microsecond=0)
    ten_ago = this_minute - dt.timedelta(minutes=10)
    for index in range(4):
        _finished_at(f"ok-now-{index}", states.SUCCESS, this_minute + dt.timedelta(seconds=index))
    _finished_at("fail-now", states.FAILURE, this_minute + dt.timedelta(seconds=5))
    for index in range(2):
        _finished_at(f"fail-ten-{index}", states.FAILURE, ten_ago + dt.timedelta(seconds=30 + index))
    _finished_at("too-old", states.SUCCESS, now - dt.timedelta(hours=2))
    _finished_at("still-running", states.STARTED, this_minute)
    for n in range(3):
        add.apply_async((n, n), queue="dash-a")
    add.apply_async((1, 1), queue="dash-b", countdown=600)
    Message.objects.filter(queue="dash-a").filter(pk=Message.objects.filter(queue="dash-a").first().pk).update(
        status=Message.Status.DEAD)

    response = admin_client.get(DASHBOARD_URL)
    assert response.status_code == 200
    series = response.context["series"]
    assert len(series) == 60 and series[-1]["minute"] == this_minute
    by_minute = {row["minute"]: (row["finished"], row["failures"]) for row in series}
    assert by_minute[this_minute] == (5, 1)
    assert by_minute[ten_ago] == (2, 2)
    assert sum(row["finished"] for row in series) == 7 == response.context["finished_last_hour"]
    assert response.context["failures_last_hour"] == 3
    assert series == throughput(now)

    html = response.content.decode()
    assert '<div class="cc-figure" id="cc-finished">7<small>' in html
    bars = re.findall(r'<rect class="(finished|failures)"[^>]*data-value="(\d+)"', html)
    assert len(bars) == 120
    assert sum(int(value) for css, value in bars if css == "finished") == 7
    assert sum(int(value) for css, value in bars if css == "failures") == 3

    depths = {row["queue"]: row for row in response.context["depth_rows"]}
    assert (depths["dash-a"]["ready"], depths["dash-a"]["dead"], depths["dash-a"]["total"]) == (2, 1, 3)
    assert (depths["dash-b"]["scheduled"], depths["dash-b"]["total"]) == (1, 1)
    assert re.search(r'<tr data-queue="dash-a">.*?<td>2</td><td>0</td><td>0</td><td>1</td><td>3</td></tr>', html)
    assert 'data-value="2"><title>dash-a ready: 2</title>' in html


@pytest.mark.django_db
def test_dashboard_needs_a_results_view_permission(app: Celery, staff_client: Any) -> None:
    assert staff_client().get(DASHBOARD_URL).status_code == 403
    assert staff_client("celery_compat.view_taskresult").get(DASHBOARD_URL).status_code == 200
    assert staff_client("celery_compat.view_dashboard").get(DASHBOARD_URL).status_code == 200
    index = staff_client("celery_compat.view_dashboard").get(reverse("admin:index")).content.decode()
    assert DASHBOARD_URL in index
