"""``schedule_task()``: create or update a stored periodic task in one call (also from data migrations)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable, Mapping

from django.core.exceptions import ValidationError

from .. import schedules

__all__ = ["schedule_task"]

_PERIODS = ("days", "hours", "minutes", "seconds")


def _interval(every: float | dt.timedelta) -> tuple[int, str]:
    """``(every, period)`` in the largest unit that divides the interval exactly."""
    if isinstance(every, dt.timedelta):
        seconds = every.total_seconds()
    elif isinstance(every, (int, float)) and not isinstance(every, bool):
        seconds = float(every)
    else:
        raise ValidationError(f"every={every!r}: give seconds or a timedelta")
    if seconds <= 0:
        raise ValidationError(f"every={every!r}: an interval must be positive")
    if seconds != int(seconds):
        micro = round(seconds * 1_000_000)
        return micro, "microseconds"
    seconds = int(seconds)
    for period, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds % size == 0:
            return seconds // size, period
    return seconds, "seconds"


def schedule_task(
    name: str,
    task: str,
    *,
    every: float | dt.timedelta | None = None,
    crontab: schedules.crontab | str | None = None,
    clocked: dt.datetime | None = None,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    queue: str | None = None,
    exchange: str | None = None,
    routing_key: str | None = None,
    priority: int | None = None,
    headers: Mapping[str, Any] | None = None,
    expires: dt.datetime | None = None,
    expire_seconds: int | None = None,
    one_off: bool | None = None,
    start_time: dt.datetime | None = None,
    enabled: bool = True,
    description: str = "",
    timezone: str | None = None,
    apps: Any = None,
) -> Any:
    """Create, or update by ``name``, the ``PeriodicTask`` running ``task`` on one schedule.

    Give exactly one of ``every`` (seconds or a ``timedelta``), ``crontab``
    (a :class:`~celery_compat.schedules.crontab` or a cron line
    ``'m h dom mon dow'``, read in ``timezone``, default ``CELERY_TIMEZONE``
    or ``TIME_ZONE``) and ``clocked`` (an aware datetime; implies
    ``one_off``). In a data migration pass the migration's ``apps``::

        def forwards(apps, schema_editor):
            from celery_compat.beat import schedule_task
            schedule_task("nightly report", "reports.tasks.nightly", crontab="0 3 * * *", apps=apps)

    Returns the saved row. Running schedulers pick the change up within a second or two.
    """
    from . import models as beat_models

    def model(model_name: str) -> Any:
        return apps.get_model("celery_compat", model_name) if apps is not None else getattr(beat_models, model_name)

    if sum(x is not None for x in (every, crontab, clocked)) != 1:
        raise ValidationError(f"schedule_task({name!r}): give exactly one of every=, crontab= and clocked=")
    schedule_fields: dict[str, Any] = {"interval": None, "crontab": None, "clocked": None}
    if every is not None:
        count, period = _interval(every)
        Interval = model("IntervalSchedule")
        schedule_fields["interval"] = (Interval.objects.filter(every=count, period=period).first()
                                       or Interval.objects.create(every=count, period=period))
    elif crontab is not None:
        cron = schedules.crontab.from_string(crontab) if isinstance(crontab, str) else crontab
        tz = timezone or beat_models.default_timezone()
        beat_models.validate_timezone(tz)
        spec = {
            "minute": str(cron._orig_minute), "hour": str(cron._orig_hour),
            "day_of_week": str(cron._orig_day_of_week), "day_of_month": str(cron._orig_day_of_month),
            "month_of_year": str(cron._orig_month_of_year), "timezone": tz,
        }
        Crontab = model("CrontabSchedule")
        schedule_fields["crontab"] = Crontab.objects.filter(**spec).first() or Crontab.objects.create(**spec)
    else:
        assert clocked is not None
        if clocked.tzinfo is None:
            raise ValidationError(f"clocked={clocked!r}: give an aware datetime (with a tzinfo)")
        schedule_fields["clocked"] = model("ClockedSchedule").objects.create(clocked_time=clocked)
        one_off = True if one_off is None else one_off
        if not one_off:
            raise ValidationError(f"schedule_task({name!r}): a clocked schedule runs once: one_off must be True")
    values = {
        **schedule_fields,
        "task": task,
        "args": json.dumps(list(args)),
        "kwargs": json.dumps(dict(kwargs or {})),
        "headers": json.dumps(dict(headers or {})),
        "queue": queue, "exchange": exchange, "routing_key": routing_key, "priority": priority,
        "expires": expires, "expire_seconds": expire_seconds, "one_off": bool(one_off),
        "start_time": start_time, "enabled": enabled, "description": description,
    }
    PeriodicTask = model("PeriodicTask")
    row, _ = PeriodicTask.objects.update_or_create(name=name, defaults=values)
    if apps is not None:
        # Historical models send no signals to our receivers: move the marker here.
        from django.utils import timezone as dj_timezone

        Marker = model("PeriodicTasks")
        if not Marker.objects.filter(ident=1).update(last_update=dj_timezone.now()):
            Marker.objects.get_or_create(ident=1, defaults={"last_update": dj_timezone.now()})
    return row
