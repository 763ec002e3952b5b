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


def test_the_cached_upsert_writes_what_the_compiler_writes() -> None:
    """The second store of the same columns reuses the first's SQL: same statement, same values."""
    from django.db import connection
    from django.db.models.constants import OnConflict
    from django.db.models.sql.subqueries import InsertQuery
    from django.test.utils import CaptureQueriesContext

    from celery_compat import models

    models._UPSERT_SQL.clear()
    kwargs = dict(task_name="a", task_args="[1]", worker="w", retries=2, queue="q")
    with CaptureQueriesContext(connection) as first:
        TaskResult.objects.store_result("application/json", "utf-8", "t1", "1", "SUCCESS", **kwargs)
    assert len(models._UPSERT_SQL) == 1
    with CaptureQueriesContext(connection) as cached:
        TaskResult.objects.store_result("application/json", "utf-8", "t2", "[2, \"x\"]", "SUCCESS", **kwargs)

    # The compiler's own statement for the second row, built as before the cache.
    obj = TaskResult(task_id="t2", status="SUCCESS", result="[2, \"x\"]", content_type="application/json",
                     content_encoding="utf-8", **kwargs)
    opts = TaskResult._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    update = ["status", "result", "traceback", "meta", "content_type", "content_encoding", "periodic_task_name",
              "task_name", "task_args", "task_kwargs", "worker", "retries", "queue", "date_done"]
    query = InsertQuery(
        TaskResult, on_conflict=OnConflict.UPDATE, update_fields=[opts.get_field(n) for n in update],
        unique_fields=[opts.get_field("task_id")] if connection.features.supports_update_conflicts_with_target else [],
    )
    query.insert_values(fields, [obj])
    ((expected_sql, _),) = query.get_compiler(using=connection.alias).as_sql()
    # The captured statements have their values interpolated: compare around them.
    prefix = expected_sql[:expected_sql.index(" VALUES ")]
    suffix = expected_sql[expected_sql.rindex("%s)") + 3:]
    for captured in (first, cached):
        (statement,) = [q["sql"] for q in captured.captured_queries]
        assert statement.startswith(prefix) and statement.endswith(suffix), statement

    one, two = TaskResult.objects.get(task_id="t1"), TaskResult.objects.get(task_id="t2")
    assert (two.status, two.result, two.task_name, two.task_args, two.worker, two.retries, two.queue) == (
        "SUCCESS", '[2, "x"]', "a", "[1]", "w", 2, "q")
    assert two.date_done >= one.date_done and two.date_created >= one.date_created
    assert two.date_started is None and two.traceback is None

    # A later write of the same id through the cached statement still overwrites.
    TaskResult.objects.store_result("application/json", "utf-8", "t2", "3", "SUCCESS", task_name="b")
    again = TaskResult.objects.get(task_id="t2")
    assert (again.pk, again.date_created) == (two.pk, two.date_created)
    assert (again.result, again.task_name, again.worker) == ("3", "b", None)
    assert again.date_done >= two.date_done


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


def test_the_backend_stores_results_without_building_model_instances(app: Any) -> None:
    """``write_result`` writes the row from a dict; ``store_result`` still returns the instance it wrote."""
    from django.db.models.signals import post_init

    built: list[Any] = []

    def count(sender: Any, instance: Any, **kwargs: Any) -> None:
        built.append(instance)

    post_init.connect(count, sender=TaskResult)
    try:
        app.backend.mark_as_done("done", 1)
        app.backend.mark_as_failure("failed", KeyError("k"), traceback="tb")
    finally:
        post_init.disconnect(count, sender=TaskResult)
    assert built == []

    done, failed = TaskResult.objects.get(task_id="done"), TaskResult.objects.get(task_id="failed")
    assert (done.status, done.result, done.log, done.date_started) == ("SUCCESS", "1", None, None)
    assert done.date_created is not None and done.date_done >= done.date_created
    assert (failed.status, failed.traceback) == ("FAILURE", "tb") and failed.date_done is not None

    returned = TaskResult.objects.store_result("application/json", "utf-8", "api", "2", "SUCCESS", retries=1)
    assert isinstance(returned, TaskResult) and returned.pk is None
    assert (returned.task_id, returned.result, returned.retries) == ("api", "2", 1)
    assert returned.date_done is not None and returned.date_created is not None


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
