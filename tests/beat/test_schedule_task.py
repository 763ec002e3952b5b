"""``schedule_task()``: from code and from a data migration (historical models)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from celery_compat.beat import schedule_task
from celery_compat.beat.models import PeriodicTask, PeriodicTasks

pytestmark = pytest.mark.django_db(transaction=True)
UTC = dt.timezone.utc


def test_from_a_data_migration_with_historical_models():
    apps = MigrationLoader(connection).project_state().apps
    before = PeriodicTasks.last_change()
    row = schedule_task("nightly", "reports.nightly", crontab="0 3 * * mon-fri", timezone="Europe/Paris",
                        kwargs={"email": True}, queue="reports", apps=apps)
    assert type(row).__module__ == "__fake__"  # a historical model
    task = PeriodicTask.objects.get(name="nightly")
    assert str(task.crontab) == "0 3 * * mon-fri (m/h/dM/MY/d) Europe/Paris"
    assert (task.kwargs, task.queue, task.enabled) == ('{"email": true}', "reports", True)
    assert PeriodicTasks.last_change() != before  # running schedulers reload


def test_updates_by_name_and_picks_units():
    schedule_task("poll", "feeds.poll", every=90)
    schedule_task("poll", "feeds.poll2", every=dt.timedelta(hours=2))
    task = PeriodicTask.objects.get()
    assert (task.task, task.interval.every, task.interval.period) == ("feeds.poll2", 2, "hours")
    schedule_task("poll", "feeds.poll", every=0.5)
    assert str(PeriodicTask.objects.get().interval) == "every 500000 microseconds"


def test_refuses_unclear_input():
    with pytest.raises(ValidationError, match="exactly one of every=, crontab= and clocked="):
        schedule_task("x", "t", every=5, crontab="* * * * *")
    with pytest.raises(ValidationError, match="an aware datetime"):
        schedule_task("x", "t", clocked=dt.datetime(2030, 1, 1))
    with pytest.raises(ValidationError, match="not a time zone name"):
        schedule_task("x", "t", crontab="0 3 * * *", timezone="Paris")
    with pytest.raises(ValueError, match="expected 5 fields"):
        schedule_task("x", "t", crontab="0 3 * *")
    assert not PeriodicTask.objects.exists()
