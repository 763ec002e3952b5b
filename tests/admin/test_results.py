"""Results in the admin: progress, logs, workflows, re-run and its permission."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.urls import reverse

from celery_compat import Celery, chain, chord, states
from celery_compat.models import TaskResult
from celery_compat.testing import drain
from kombu_transport_django.admin import decode_payload
from kombu_transport_django.models import Message
from tests.admin.tasks import add, chatty, chatty_ignored, fails, replaced_by_add, retries_once, tsum

pytestmark = pytest.mark.django_db

RESULTS_URL = reverse("admin:celery_compat_taskresult_changelist")


def _page(client: Any, row: TaskResult) -> str:
    response = client.get(reverse("admin:celery_compat_taskresult_change", args=[row.pk]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def task_info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Let INFO task lines through (what ``runworker -l INFO`` does)."""
    caplog.set_level(logging.INFO)
    return caplog


def test_update_state_progress_shows_as_a_bar(app: Celery, admin_client: Any) -> None:
    # What update_state(state="PROGRESS", meta={"current": 3, "total": 12}) stores from a running task.
    app.backend.store_result("t-progress", {"current": 3, "total": 12}, "PROGRESS")
    app.backend.store_result("t-done", {"current": 12, "total": 12}, states.SUCCESS)

    html = admin_client.get(RESULTS_URL).content.decode()
    assert '<progress class="cc-progress" value="3" max="12" title="25%"></progress> 3/12 (25%)' in html
    # A finished task shows its result, not a bar.
    assert 'value="12" max="12"' not in html
    assert "3/12 (25%)" in _page(admin_client, TaskResult.objects.get(task_id="t-progress"))


def test_failed_task_page_shows_args_result_traceback_and_its_log(app: Celery, admin_client: Any) -> None:
    result = fails.delay(7, label="seven")
    drain(app)
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == states.FAILURE

    html = _page(admin_client, row)
    assert "(7,)" in html and "{&#x27;label&#x27;: &#x27;seven&#x27;}" in html
    assert "ValueError" in html and "cannot handle 7 seven" in html
    assert "Traceback (most recent call last)" in html
    assert "about to fail with 7" in row.log and "about to fail with 7" in html


def test_task_log_keeps_the_last_lines_as_configured(app: Celery, task_info_logs: Any) -> None:
    app.conf.task_log_lines = 3
    kept = chatty.delay(5)
    ignored = chatty_ignored.delay(4)
    drain(app)

    log = TaskResult.objects.get(task_id=kept.id).log
    assert [line.split("] ", 1)[1] for line in log.splitlines()] == ["line 3 of 5", "line 4 of 5", "line 5 of 5"]
    assert log.startswith("[") and "INFO" in log
    assert not TaskResult.objects.filter(task_id=ignored.id).exists()


def test_task_log_can_be_turned_off(app: Celery, task_info_logs: Any) -> None:
    app.conf.task_log_lines = 0
    result = chatty.delay(2)
    drain(app)
    assert TaskResult.objects.get(task_id=result.id).log is None


def test_task_log_bad_setting_names_the_value(app: Celery) -> None:
    from celery_compat.tasklog import log_lines_setting

    app.conf.task_log_lines = "many"
    with pytest.raises(ValueError, match=r"task_log_lines \(CELERY_TASK_LOG_LINES\) must be a whole number >= 0, "
                                         r"got 'many'"):
        log_lines_setting(app)


def test_task_log_keeps_every_attempt_of_a_retried_task(app: Celery, task_info_logs: Any) -> None:
    result = retries_once.delay()
    drain(app)
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == states.SUCCESS
    assert [line.split("] ", 1)[1] for line in row.log.splitlines()] == ["attempt 0", "attempt 1"]


def test_chain_root_page_links_every_descendant(app: Celery, admin_client: Any) -> None:
    workflow = chain(add.s(1, 1), add.s(10), add.s(100)).apply_async()
    drain(app)
    last = TaskResult.objects.get(task_id=workflow.id)
    middle = TaskResult.objects.get(task_id=workflow.parent.id)
    root = TaskResult.objects.get(task_id=workflow.parent.parent.id)
    assert last.result == "112"
    assert (root.root_id, middle.root_id, last.root_id) == (root.task_id,) * 3
    assert (middle.parent_id, last.parent_id) == (root.task_id, middle.task_id)

    html = _page(admin_client, root)
    assert "descendants (2)" in html
    for row in (middle, last):
        assert reverse("admin:celery_compat_taskresult_change", args=[row.pk]) in html
    # A step links back to its parent and root.
    step = _page(admin_client, last)
    assert reverse("admin:celery_compat_taskresult_change", args=[middle.pk]) in step
    assert reverse("admin:celery_compat_taskresult_change", args=[root.pk]) in step
    # The list links every row to its workflow.
    listed = admin_client.get(f"{RESULTS_URL}?root_id={root.task_id}")
    assert listed.context["cl"].result_count == 3


def test_chord_and_replace_descendants_are_linked_from_the_root(app: Celery, admin_client: Any) -> None:
    root = add.apply_async((1, 2), link=chord([add.si(2, 2), add.si(3, 3)], tsum.s()))
    replaced = replaced_by_add.delay(5)
    drain(app)

    root_row = TaskResult.objects.get(task_id=root.id)
    family = TaskResult.objects.filter(root_id=root.id).exclude(task_id=root.id)
    assert sorted(row.result for row in family) == ["10", "4", "6"]  # both header parts and the body
    html = _page(admin_client, root_row)
    assert "descendants (3)" in html
    for row in family:
        assert reverse("admin:celery_compat_taskresult_change", args=[row.pk]) in html

    # replace(): the replacement runs under the same task id, in the same workflow.
    assert replaced.get(timeout=5) == 105
    assert TaskResult.objects.get(task_id=replaced.id).root_id == replaced.id


def _rerun(client: Any, row: TaskResult) -> Any:
    return client.post(RESULTS_URL, {"action": "rerun", "_selected_action": [str(row.pk)]}, follow=True)


def test_rerun_publishes_the_same_task_and_arguments_under_a_new_id(app: Celery, staff_client: Any) -> None:
    failed = fails.delay(3, label="again")
    drain(app)
    row = TaskResult.objects.get(task_id=failed.id)

    viewer = staff_client("celery_compat.view_taskresult")
    _rerun(viewer, row)
    assert not Message.objects.exists()  # refused: no change permission

    operator = staff_client("celery_compat.view_taskresult", "celery_compat.change_taskresult")
    response = _rerun(operator, row)
    message = Message.objects.get()
    assert message.task_name == fails.name and message.task_id != failed.id
    assert f"Re-ran {fails.name} [{failed.id}] as {message.task_id}." in response.content.decode()
    body = decode_payload(message.payload)["body"]
    assert (body[0], body[1]) == ([3], {"label": "again"})

    drain(app)
    again = TaskResult.objects.get(task_id=message.task_id)
    assert again.status == states.FAILURE and "cannot handle 3 again" in again.result


def test_rerun_refuses_rows_it_cannot_rebuild(app: Celery, admin_client: Any) -> None:
    app.backend.store_result("t-ok", 1, states.SUCCESS)
    done = TaskResult.objects.get(task_id="t-ok")
    TaskResult.objects.create(task_id="t-bare", status=states.FAILURE, content_type="application/json",
                              content_encoding="utf-8")
    bare = TaskResult.objects.get(task_id="t-bare")
    TaskResult.objects.create(task_id="t-cut", status=states.FAILURE, task_name=fails.name,
                              task_args='"(\'a very long string...\', ...)"', content_type="application/json",
                              content_encoding="utf-8")
    cut = TaskResult.objects.get(task_id="t-cut")

    page = admin_client.post(RESULTS_URL, {"action": "rerun", "_selected_action": [done.pk, bare.pk, cut.pk]},
                             follow=True).content.decode()
    assert "Not re-run: t-ok is SUCCESS; only FAILURE and REVOKED tasks are re-run." in page
    assert "task t-bare was stored without its name and arguments: set CELERY_RESULT_EXTENDED = True" in page
    assert "cannot be read back" in page
    assert not Message.objects.exists()


def test_deleting_results_needs_delete_permission(app: Celery, staff_client: Any) -> None:
    app.backend.store_result("t-delete", 1, states.SUCCESS)
    row = TaskResult.objects.get(task_id="t-delete")
    form = {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes"}

    staff_client("celery_compat.view_taskresult", "celery_compat.change_taskresult").post(RESULTS_URL, form)
    assert TaskResult.objects.filter(pk=row.pk).exists()

    staff_client("celery_compat.view_taskresult", "celery_compat.delete_taskresult").post(RESULTS_URL, form)
    assert not TaskResult.objects.filter(pk=row.pk).exists()
