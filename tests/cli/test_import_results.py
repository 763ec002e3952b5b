"""``manage.py import_celery_results``: django-celery-results' tables copied into ours.

The source tables are created here with django-celery-results 2.6's
columns (and, for the second test, an older release's, without
``date_started`` and ``periodic_task_name``): the package itself is not
needed.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from celery_compat import Celery
from celery_compat.cli.import_results import mirror
from celery_compat.models import ChordCounter, GroupResult, TaskResult

pytestmark = pytest.mark.django_db(transaction=True)

#: django-celery-results 2.6's columns
TASK_COLUMNS = {"task_id", "periodic_task_name", "task_name", "task_args", "task_kwargs", "status", "worker",
                "content_type", "content_encoding", "result", "date_created", "date_started", "date_done",
                "traceback", "meta"}
GROUP_COLUMNS = {"group_id", "date_created", "date_done", "content_type", "content_encoding", "result"}
CHORD_COLUMNS = {"group_id", "sub_tasks", "count"}


def source_tables(task_columns: set[str]) -> Iterator[tuple[type, type, type]]:
    models_ = (mirror(TaskResult, "django_celery_results_taskresult", task_columns),
               mirror(GroupResult, "django_celery_results_groupresult", GROUP_COLUMNS),
               mirror(ChordCounter, "django_celery_results_chordcounter", CHORD_COLUMNS))
    with connection.schema_editor() as editor:
        for model in models_:
            editor.create_model(model)
    try:
        yield models_
    finally:
        with connection.schema_editor() as editor:
            for model in models_:
                editor.delete_model(model)


@pytest.fixture
def dcr() -> Iterator[tuple[type, type, type]]:
    yield from source_tables(TASK_COLUMNS)


@pytest.fixture
def old_dcr() -> Iterator[tuple[type, type, type]]:
    yield from source_tables(TASK_COLUMNS - {"date_started", "periodic_task_name"})


def ours_only(source_columns: set[str]) -> str:
    """The report's note on TaskResult columns the source lacks (celery_compat's additions among them)."""
    ours = {f.column for f in TaskResult._meta.concrete_fields if not f.primary_key}
    missing = sorted(ours - source_columns)
    return f" (not in the source, left at their defaults: {', '.join(missing)})" if missing else ""


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_celery_results", *args, stdout=out)
    return out.getvalue()


def test_copies_rows_with_their_timestamps(dcr: tuple[type, type, type], app: Celery) -> None:
    task, group, chord = dcr
    done = timezone.now() - dt.timedelta(days=3)
    for n in range(5):
        task.objects.create(task_id=f"t{n}", task_name="proj.tasks.add", task_args="[1, 2]", task_kwargs="{}",
                            status="SUCCESS", worker="celery@old", content_type="application/json",
                            content_encoding="utf-8", result=str(n), date_created=done, date_done=done,
                            date_started=done, periodic_task_name="nightly" if n == 0 else None,
                            traceback=None, meta='{"children": []}')
    group.objects.create(group_id="g1", content_type="application/json", content_encoding="utf-8",
                         result='[["t0", null]]', date_created=done, date_done=done)
    chord.objects.create(group_id="g1", sub_tasks="[]", count=2)
    TaskResult.objects.store_result("application/json", "utf-8", "t4", "44", "SUCCESS")  # already here

    assert run("--dry-run") == (
        f"django_celery_results_taskresult: would copy 4 rows, 1 already present{ours_only(TASK_COLUMNS)}\n"
        "django_celery_results_groupresult: would copy 1 rows, 0 already present\n"
        "django_celery_results_chordcounter: would copy 1 rows, 0 already present "
        "(not in the source, left at their defaults: date_created)\n"
    )
    assert TaskResult.objects.count() == 1

    out = run("--batch-size", "2")
    assert out.startswith("django_celery_results_taskresult: copied 4 rows, 1 already present ")
    rows = {r.task_id: r for r in TaskResult.objects.all()}
    assert sorted(rows) == ["t0", "t1", "t2", "t3", "t4"]
    assert rows["t4"].result == "44"  # ours was kept
    t0 = rows["t0"]
    assert (t0.result, t0.task_name, t0.task_args, t0.worker, t0.periodic_task_name, t0.meta) == (
        "0", "proj.tasks.add", "[1, 2]", "celery@old", "nightly", '{"children": []}')
    assert t0.date_done == done and t0.date_created == done and t0.date_started == done
    assert GroupResult.objects.get(group_id="g1").date_done == done
    assert ChordCounter.objects.get(group_id="g1").count == 2
    # The copied rows are what AsyncResult reads.
    assert app.AsyncResult("t1").get(timeout=1) == 1

    # Twice: nothing more.
    assert run().startswith("django_celery_results_taskresult: copied 0 rows, 5 already present ")
    assert TaskResult.objects.count() == 5


def test_older_release_without_some_columns(old_dcr: tuple[type, type, type], app: Celery) -> None:
    task = old_dcr[0]
    task.objects.create(task_id="t", status="FAILURE", content_type="application/json", content_encoding="utf-8",
                        result='{"exc_type": "ValueError", "exc_message": ["no"], "exc_module": "builtins"}',
                        traceback="Traceback ...", date_created=timezone.now(), date_done=timezone.now())
    out = run()
    columns = TASK_COLUMNS - {"date_started", "periodic_task_name"}
    assert out.splitlines()[0] == f"django_celery_results_taskresult: copied 1 rows, 0 already present{ours_only(columns)}"
    assert {"date_started", "periodic_task_name"} <= set(ours_only(columns)[1:-1].split(": ")[1].split(", "))
    row = TaskResult.objects.get(task_id="t")
    assert (row.status, row.date_started, row.periodic_task_name) == ("FAILURE", None, None)
    with pytest.raises(ValueError, match="no"):
        app.AsyncResult("t").get(timeout=1)


def test_no_source_tables(app: Celery) -> None:
    with pytest.raises(CommandError, match="no django-celery-results tables"):
        run()
