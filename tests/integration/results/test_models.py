"""The models' managers, expiry in batches, and retries on transient database errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import OperationalError, router, transaction
from django.utils import timezone

from celery_compat.models import ChordCounter, GroupResult, TaskResult
from celery_compat.result import GroupResult as GroupResultHandle

pytestmark = pytest.mark.django_db


def age(model: Any, hours: float, **filters: Any) -> None:
    """Move rows back in time (``update()`` leaves ``auto_now`` alone)."""
    field = "date_created" if model is ChordCounter else "date_done"
    model.objects.filter(**filters).update(**{field: timezone.now() - dt.timedelta(hours=hours)})


def test_get_task_returns_an_unsaved_pending_row_when_missing() -> None:
    missing = TaskResult.objects.get_task("nope")

    assert missing.pk is None and missing.status == "PENDING" and missing.result is None
    assert str(missing) == "<Task: nope (PENDING)>"


def test_store_result_overwrites_every_field_but_the_creation_date() -> None:
    TaskResult.objects.store_result("application/json", "utf-8", "t", "1", "STARTED", task_name="a", worker="w")
    first = TaskResult.objects.get(task_id="t")

    TaskResult.objects.store_result("application/json", "utf-8", "t", "2", "SUCCESS", traceback=None)

    second = TaskResult.objects.get(task_id="t")
    assert (second.pk, second.date_created) == (first.pk, first.date_created)
    assert (second.status, second.result, second.task_name, second.worker) == ("SUCCESS", "2", None, None)
    assert TaskResult.objects.count() == 1
    assert second.as_dict()["result"] == "2"


def test_a_success_row_is_final_for_other_states() -> None:
    TaskResult.objects.store_result("application/json", "utf-8", "t", "2", "SUCCESS", task_name="a")
    for state in ("RETRY", "FAILURE", "STARTED", "REVOKED"):
        TaskResult.objects.store_result("application/json", "utf-8", "t", "null", state)

    row = TaskResult.objects.get(task_id="t")
    assert (row.status, row.result, row.task_name) == ("SUCCESS", "2", "a")
    assert TaskResult.objects.count() == 1


def test_a_first_non_success_write_inserts_and_later_ones_update() -> None:
    TaskResult.objects.store_result("application/json", "utf-8", "t", "null", "STARTED", worker="w1")
    TaskResult.objects.store_result("application/json", "utf-8", "t", "{}", "RETRY", worker="w2")

    row = TaskResult.objects.get(task_id="t")
    assert (row.status, row.result, row.worker) == ("RETRY", "{}", "w2")
    assert row.date_created is not None and row.date_done >= row.date_created
    assert TaskResult.objects.count() == 1


def test_delete_expired_deletes_old_rows_in_batches() -> None:
    for index in range(7):
        TaskResult.objects.store_result("application/json", "utf-8", f"old-{index}", "1", "SUCCESS")
    TaskResult.objects.store_result("application/json", "utf-8", "new", "1", "SUCCESS")
    age(TaskResult, 48, task_id__startswith="old-")

    assert TaskResult.objects.get_all_expired(dt.timedelta(days=1)).count() == 7
    assert TaskResult.objects.delete_expired(dt.timedelta(days=1), batch_size=3) == 7
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["new"]


def test_cleanup_expires_results_groups_and_abandoned_chord_counters(app_factory: Any) -> None:
    app = app_factory(result_expires=3600)
    app.backend.cleanup_batch_size = 2
    for task_id in ("old-1", "old-2", "old-3", "fresh"):
        app.backend.mark_as_done(task_id, 1)
    for group_id in ("old-g", "fresh-g"):
        GroupResultHandle(group_id, [], app=app).save()
    ChordCounter.objects.create(group_id="old-c", sub_tasks="[]", count=1)
    ChordCounter.objects.create(group_id="fresh-c", sub_tasks="[]", count=1)
    for model in (TaskResult, GroupResult, ChordCounter):
        age(model, 2, **{"group_id__startswith" if model is not TaskResult else "task_id__startswith": "old"})

    app.backend.cleanup()

    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["fresh"]
    assert list(GroupResult.objects.values_list("group_id", flat=True)) == ["fresh-g"]
    assert list(ChordCounter.objects.values_list("group_id", flat=True)) == ["fresh-c"]


def test_no_result_expires_keeps_everything(app_factory: Any) -> None:
    app = app_factory(result_expires=None)
    app.backend.mark_as_done("kept", 1)
    age(TaskResult, 24 * 365)

    app.backend.cleanup()

    assert TaskResult.objects.filter(task_id="kept").exists()


def test_chord_counter_rebuilds_its_group(app: Any) -> None:
    counter = ChordCounter.objects.create(
        group_id="chord", sub_tasks=json.dumps([[["a", None], None], [["b", None], None]]), count=2,
    )

    group = counter.group_result(app=app)

    assert isinstance(group, GroupResultHandle) and group.id == "chord" and group.results == ["a", "b"]
    assert counter.date_created is not None


@pytest.mark.django_db(transaction=True)
def test_transient_errors_are_retried_outside_transactions(app: Any) -> None:
    alias = router.db_for_write(TaskResult)
    app.backend.retry_delay = 0
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return "stored"

    assert app.backend._retrying(alias, flaky) == "stored"
    assert len(calls) == 3

    calls.clear()

    def broken() -> None:
        calls.append(1)
        raise OperationalError("still down")

    with pytest.raises(OperationalError):
        app.backend._retrying(alias, broken)
    assert len(calls) == 3  # the first try and max_retries=2 more
    calls.clear()
    with transaction.atomic(), pytest.raises(OperationalError):
        app.backend._retrying(alias, broken)
    assert len(calls) == 1  # a broken transaction cannot be retried from inside
