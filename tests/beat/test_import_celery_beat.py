"""``import_celery_beat``: django-celery-beat's tables (built here with its schema) copied into ours."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from celery_compat.beat.legacy import (
    LEGACY_MODELS,
    LegacyClocked,
    LegacyCrontab,
    LegacyInterval,
    LegacyPeriodicTask,
)
from celery_compat.beat.models import BeatEntryState, PeriodicTask

pytestmark = pytest.mark.django_db(transaction=True)
UTC = dt.timezone.utc


@pytest.fixture
def legacy_tables():
    with connection.schema_editor() as editor:
        for model in LEGACY_MODELS:
            editor.create_model(model)
    yield
    with connection.schema_editor() as editor:
        for model in reversed(LEGACY_MODELS):
            editor.delete_model(model)


def test_without_the_tables_it_says_so():
    with pytest.raises(CommandError, match="no table 'django_celery_beat_periodictask'"):
        call_command("import_celery_beat")


def test_copies_tasks_and_schedules_keeping_run_history(legacy_tables):
    last = dt.datetime(2026, 1, 1, 4, 0, tzinfo=UTC)
    every = LegacyInterval.objects.create(every=30, period="seconds")
    cron = LegacyCrontab.objects.create(minute="0", hour="4", day_of_week="*", day_of_month="*",
                                        month_of_year="*", timezone="Europe/Paris")
    bad_cron = LegacyCrontab.objects.create(minute="0", hour="4", day_of_week="7", day_of_month="*",
                                            month_of_year="*", timezone="UTC")
    clocked = LegacyClocked.objects.create(clocked_time=dt.datetime(2030, 1, 1, tzinfo=UTC))
    common = {"args": "[]", "kwargs": "{}", "headers": "{}", "description": ""}
    LegacyPeriodicTask.objects.create(name="poll", task="proj.poll", interval=every, queue="fast",
                                      priority=3, args='[1, 2]', kwargs='{"a": 1}', last_run_at=last,
                                      total_run_count=41, **{k: v for k, v in common.items() if k not in ("args", "kwargs")})
    LegacyPeriodicTask.objects.create(name="nightly", task="proj.nightly", crontab=cron, expire_seconds=600,
                                      enabled=False, **common)
    LegacyPeriodicTask.objects.create(name="once", task="proj.once", clocked=clocked, one_off=True, **common)
    LegacyPeriodicTask.objects.create(name="sunrise", task="proj.sun", solar_id=1, **common)
    LegacyPeriodicTask.objects.create(name="sunday7", task="proj.sun", crontab=bad_cron, **common)
    PeriodicTask.objects.create(name="poll", task="old.task", interval=None)

    out, err = StringIO(), StringIO()
    call_command("import_celery_beat", "--dry-run", stdout=out, stderr=err)
    assert "would copy 2 new and 1 existing" in out.getvalue()
    assert PeriodicTask.objects.get(name="poll").task == "old.task"

    out, err = StringIO(), StringIO()
    call_command("import_celery_beat", stdout=out, stderr=err)
    assert "copied 2 new and 1 existing" in out.getvalue()
    assert "skipped 'sunrise': solar schedules are not supported" in err.getvalue()
    assert "skipped 'sunday7'" in err.getvalue() and "day_of_week" in err.getvalue()

    poll = PeriodicTask.objects.get(name="poll")
    assert (poll.task, str(poll.interval), poll.queue, poll.priority) == ("proj.poll", "every 30 seconds", "fast", 3)
    assert (poll.args, poll.kwargs, poll.last_run_at, poll.total_run_count) == ('[1, 2]', '{"a": 1}', last, 41)
    assert BeatEntryState.objects.get(name="poll").anchor_at == last  # the schedule continues from the last run
    nightly = PeriodicTask.objects.get(name="nightly")
    assert str(nightly.crontab) == "0 4 * * * (m/h/dM/MY/d) Europe/Paris"
    assert (nightly.enabled, nightly.expire_seconds) == (False, 600)
    once = PeriodicTask.objects.get(name="once")
    assert once.one_off and once.clocked.clocked_time == dt.datetime(2030, 1, 1, tzinfo=UTC)

    # Running it again changes nothing but reports the tasks as existing.
    out = StringIO()
    call_command("import_celery_beat", "--no-overwrite", stdout=out, stderr=StringIO())
    assert "copied 0 new and 0 existing" in out.getvalue()
    assert PeriodicTask.objects.count() == 3
