"""Read django-celery-beat's tables (``django_celery_beat_*``) and copy their periodic tasks.

The models below are unmanaged mirrors of django-celery-beat 2.x's tables,
under an app label of their own, so the tables can be read whether or not
django-celery-beat is installed (and while it is). Columns that older
releases lack (``clocked_id``, ``expire_seconds``, ``headers``,
``priority``…) are read only if present.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import connections, models, router, transaction

from .models import BeatEntryState, ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask

APP_LABEL = "celery_compat_legacy_beat"


class _Meta:
    managed = False
    app_label = APP_LABEL


class LegacyInterval(models.Model):
    every = models.IntegerField()
    period = models.CharField(max_length=24)

    class Meta(_Meta):
        db_table = "django_celery_beat_intervalschedule"


class LegacyCrontab(models.Model):
    minute = models.CharField(max_length=240)
    hour = models.CharField(max_length=96)
    day_of_week = models.CharField(max_length=64)
    day_of_month = models.CharField(max_length=124)
    month_of_year = models.CharField(max_length=64)
    timezone = models.CharField(max_length=63)

    class Meta(_Meta):
        db_table = "django_celery_beat_crontabschedule"


class LegacyClocked(models.Model):
    clocked_time = models.DateTimeField()

    class Meta(_Meta):
        db_table = "django_celery_beat_clockedschedule"


class LegacyPeriodicTask(models.Model):
    name = models.CharField(max_length=200, unique=True)
    task = models.CharField(max_length=200)
    interval = models.ForeignKey(LegacyInterval, null=True, on_delete=models.DO_NOTHING, db_constraint=False)
    crontab = models.ForeignKey(LegacyCrontab, null=True, on_delete=models.DO_NOTHING, db_constraint=False)
    solar_id = models.IntegerField(null=True)
    clocked = models.ForeignKey(LegacyClocked, null=True, on_delete=models.DO_NOTHING, db_constraint=False)
    args = models.TextField(default="[]")
    kwargs = models.TextField(default="{}")
    queue = models.CharField(max_length=200, null=True)
    exchange = models.CharField(max_length=200, null=True)
    routing_key = models.CharField(max_length=200, null=True)
    headers = models.TextField(default="{}")
    priority = models.PositiveIntegerField(null=True)
    expires = models.DateTimeField(null=True)
    expire_seconds = models.PositiveIntegerField(null=True)
    one_off = models.BooleanField(default=False)
    start_time = models.DateTimeField(null=True)
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True)
    total_run_count = models.PositiveIntegerField(default=0)
    date_changed = models.DateTimeField(null=True)
    description = models.TextField(default="")

    class Meta(_Meta):
        db_table = "django_celery_beat_periodictask"


LEGACY_MODELS = (LegacyInterval, LegacyCrontab, LegacyClocked, LegacyPeriodicTask)

#: PeriodicTask fields copied as they are, when the old table has the column
COPIED = ("task", "args", "kwargs", "queue", "exchange", "routing_key", "headers", "priority", "expires",
          "expire_seconds", "one_off", "start_time", "enabled", "last_run_at", "total_run_count", "description")


@dataclasses.dataclass
class ImportReport:
    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


def _columns(db: str, table: str) -> set[str] | None:
    connection = connections[db]
    with connection.cursor() as cursor:
        if table not in connection.introspection.table_names(cursor):
            return None
        return {column.name for column in connection.introspection.get_table_description(cursor, table)}


def _present(model: type[models.Model], columns: set[str]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if f.column in columns]


def import_celery_beat(using: str | None = None, overwrite: bool = True, dry_run: bool = False) -> ImportReport:
    """Copy django-celery-beat's periodic tasks (and their schedules) into ours.

    Schedules are matched by value (an identical interval or crontab row is
    reused). Tasks are matched by ``name``: an existing one is overwritten
    unless ``overwrite`` is False. ``last_run_at`` and ``total_run_count``
    are kept, and an imported task's schedule continues from its
    ``last_run_at``. Solar tasks are skipped (solar is not supported).
    Raises ``LookupError`` if the tables are not there.
    """
    db = using or router.db_for_read(PeriodicTask)
    task_columns = _columns(db, LegacyPeriodicTask._meta.db_table)
    if task_columns is None:
        raise LookupError(f"no table {LegacyPeriodicTask._meta.db_table!r} in database {db!r}: "
                          "nothing to import (is this the database django-celery-beat used?)")
    report = ImportReport()
    fields = _present(LegacyPeriodicTask, task_columns)
    rows = list(LegacyPeriodicTask.objects.using(db).order_by("pk").values(*fields))
    schedule_tables = {
        model: _columns(db, model._meta.db_table) for model in (LegacyInterval, LegacyCrontab, LegacyClocked)
    }

    def fetch(model: type[models.Model], pk: Any) -> dict[str, Any] | None:
        columns = schedule_tables[model]
        if pk is None or columns is None:
            return None
        return model.objects.using(db).filter(pk=pk).values(*_present(model, columns)).first()

    with transaction.atomic(using=db):
        for row in rows:
            name = row["name"]
            values: dict[str, Any] = {key: row[key] for key in COPIED if key in row}
            values["interval"] = values["crontab"] = values["clocked"] = None
            if row.get("interval_id") is not None:
                old = fetch(LegacyInterval, row["interval_id"])
                if old is None:
                    report.skipped[name] = f"its interval row {row['interval_id']} is missing"
                    continue
                spec = {"every": old["every"], "period": old["period"]}
                values["interval"] = (IntervalSchedule.objects.using(db).filter(**spec).first()
                                      or IntervalSchedule.objects.using(db).create(**spec))
            elif row.get("crontab_id") is not None:
                old = fetch(LegacyCrontab, row["crontab_id"])
                if old is None:
                    report.skipped[name] = f"its crontab row {row['crontab_id']} is missing"
                    continue
                spec = {key: old[key] for key in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")}
                spec["timezone"] = old.get("timezone") or "UTC"
                candidate = CrontabSchedule(**spec)
                try:
                    candidate.full_clean()
                except Exception as exc:
                    report.skipped[name] = f"crontab {candidate}: {exc}"
                    continue
                values["crontab"] = (CrontabSchedule.objects.using(db).filter(**spec).first()
                                     or CrontabSchedule.objects.using(db).create(**spec))
            elif row.get("clocked_id") is not None:
                old = fetch(LegacyClocked, row["clocked_id"])
                if old is None:
                    report.skipped[name] = f"its clocked row {row['clocked_id']} is missing"
                    continue
                values["clocked"] = ClockedSchedule.objects.using(db).create(clocked_time=old["clocked_time"])
            elif row.get("solar_id") is not None:
                report.skipped[name] = "solar schedules are not supported; recreate it as a crontab"
                continue
            else:
                report.skipped[name] = "it has no schedule"
                continue
            existing = PeriodicTask.objects.using(db).filter(name=name).first()
            if existing is not None and not overwrite:
                report.skipped[name] = "a periodic task with this name exists (use --overwrite to replace it)"
                continue
            task = existing or PeriodicTask(name=name)
            for key, value in values.items():
                setattr(task, key, value)
            enabled = task.enabled
            task.save(using=db)
            if enabled and task.last_run_at is not None:
                # Continue the schedule from the last run instead of from the first scheduler's start.
                BeatEntryState.objects.using(db).filter(name=name).delete()
                BeatEntryState.objects.using(db).create(name=name, anchor_at=task.last_run_at,
                                                        total_run_count=task.total_run_count)
            (report.updated if existing is not None else report.created).append(name)
        if dry_run:
            transaction.set_rollback(True, using=db)
    return report
