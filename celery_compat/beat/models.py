"""Periodic tasks stored in the database, shaped like django-celery-beat's.

``IntervalSchedule``, ``CrontabSchedule``, ``ClockedSchedule``,
``PeriodicTask`` and the change marker ``PeriodicTasks`` keep
django-celery-beat 2.x's field names and meanings, so ``import_celery_beat``
copies rows one to one and ORM code ports by changing the import. Solar
schedules are not supported (see :mod:`celery_compat.schedules`).

Two tables are ours:

- :class:`BeatEntryState`: one row per entry name (settings or database):
  where its schedule is counted from and the last due instant fired. Every
  scheduler reads the same row, so all agree on the next due instant.
- :class:`BeatRun`: the claims. One row per ``(name, due_at)`` written in
  the same transaction as the task's message; the unique key makes each due
  run fire exactly once however many schedulers run. Old rows are deleted
  in batches (:meth:`BeatRunQuerySet.delete_in_batches`).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils import timezone

from .. import schedules

__all__ = [
    "IntervalSchedule", "CrontabSchedule", "ClockedSchedule", "PeriodicTask", "PeriodicTasks",
    "BeatEntryState", "BeatRun",
]

DAYS = "days"
HOURS = "hours"
MINUTES = "minutes"
SECONDS = "seconds"
MICROSECONDS = "microseconds"
PERIOD_CHOICES = (
    (DAYS, "Days"), (HOURS, "Hours"), (MINUTES, "Minutes"), (SECONDS, "Seconds"), (MICROSECONDS, "Microseconds"),
)
SINGULAR_PERIODS = {DAYS: "day", HOURS: "hour", MINUTES: "minute", SECONDS: "second", MICROSECONDS: "microsecond"}


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    """A name from the IANA database (``Europe/Paris``, ``UTC``)."""
    if value not in _zone_names():
        raise ValidationError(f"{value!r} is not a time zone name of the IANA database, e.g. 'Europe/Paris' or 'UTC'")


@deconstructible
class CronFieldValidator:
    """Refuses a crontab field that Celery's ``crontab_parser`` refuses, with its reason."""

    def __init__(self, field: str, max_: int, min_: int = 0) -> None:
        self.field, self.max_, self.min_ = field, max_, min_

    def __call__(self, value: str) -> None:
        try:
            schedules.crontab_parser(self.max_, self.min_).parse(value)
        except (ValueError, schedules.ParseException) as exc:
            raise ValidationError(f"{self.field} {value!r} is not a valid crontab field: {exc}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CronFieldValidator) and (other.field, other.max_, other.min_) == (
            self.field, self.max_, self.min_)


validate_minute = CronFieldValidator("minute", 60)
validate_hour = CronFieldValidator("hour", 24)
validate_day_of_week = CronFieldValidator("day_of_week", 7)
validate_day_of_month = CronFieldValidator("day_of_month", 31, 1)
validate_month_of_year = CronFieldValidator("month_of_year", 12, 1)


def default_timezone() -> str:
    """``CELERY_TIMEZONE``, else Django's ``TIME_ZONE``, else ``'UTC'`` (a valid name only)."""
    from django.conf import settings

    for name in (getattr(settings, "CELERY_TIMEZONE", None), getattr(settings, "TIME_ZONE", None)):
        if name and name in _zone_names():
            return str(name)
    return "UTC"


def _bump(**kwargs: Any) -> None:
    PeriodicTasks.update_changed()


class IntervalSchedule(models.Model):
    """Run every ``every`` ``period`` (django-celery-beat's ``IntervalSchedule``)."""

    DAYS = DAYS
    HOURS = HOURS
    MINUTES = MINUTES
    SECONDS = SECONDS
    MICROSECONDS = MICROSECONDS
    PERIOD_CHOICES = PERIOD_CHOICES

    every = models.IntegerField("Number of Periods", null=False, validators=[MinValueValidator(1)],
                                help_text="Number of interval periods to wait before running the task again")
    period = models.CharField("Interval Period", max_length=24, choices=PERIOD_CHOICES,
                              help_text="The type of period between task runs (Example: days)")

    class Meta:
        verbose_name = "interval"
        verbose_name_plural = "intervals"
        ordering = ["period", "every"]

    @property
    def schedule(self) -> schedules.schedule:
        return schedules.schedule(dt.timedelta(**{self.period: self.every}))

    @classmethod
    def from_schedule(cls, schedule: schedules.schedule, period: str = SECONDS) -> IntervalSchedule:
        """The row for ``schedule`` (created if missing), counted in ``period``."""
        every = int(max(schedule.run_every.total_seconds(), 0))
        return cls.objects.filter(every=every, period=period).first() or cls.objects.create(every=every, period=period)

    def __str__(self) -> str:
        unit = SINGULAR_PERIODS[self.period] if self.every == 1 else self.period
        return f"every {self.every} {unit}"


class CrontabSchedule(models.Model):
    """A crontab in Celery's semantics, read on the wall clock of ``timezone``."""

    minute = models.CharField("Minute(s)", max_length=60 * 4, default="*", validators=[validate_minute],
                              help_text='Cron Minutes to Run. Use "*" for "all". (Example: "0,30")')
    hour = models.CharField("Hour(s)", max_length=24 * 4, default="*", validators=[validate_hour],
                            help_text='Cron Hours to Run. Use "*" for "all". (Example: "8,20")')
    day_of_month = models.CharField("Day(s) Of The Month", max_length=31 * 4, default="*",
                                    validators=[validate_day_of_month],
                                    help_text='Cron Days Of The Month to Run. Use "*" for "all". (Example: "1,15")')
    month_of_year = models.CharField("Month(s) Of The Year", max_length=64, default="*",
                                     validators=[validate_month_of_year],
                                     help_text='Cron Months (1-12) Of The Year to Run. Use "*" for "all". '
                                               '(Example: "1,12")')
    day_of_week = models.CharField("Day(s) Of The Week", max_length=64, default="*",
                                   validators=[validate_day_of_week],
                                   help_text='Cron Days Of The Week to Run. Use "*" for "all", Sunday is 0, '
                                             'Monday is 1 (7 is refused, as in Celery). (Example: "0,5")')
    timezone = models.CharField("Cron Timezone", max_length=63, default=default_timezone,
                                validators=[validate_timezone],
                                help_text="Timezone to Run the Cron Schedule on. Default is UTC.")

    class Meta:
        verbose_name = "crontab"
        verbose_name_plural = "crontabs"
        ordering = ["month_of_year", "day_of_month", "day_of_week", "hour", "minute", "timezone"]

    def clean(self) -> None:
        for name in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"):
            try:
                self._meta.get_field(name).run_validators(getattr(self, name))
            except ValidationError:
                # Its own error names it; Celery's message for the whole
                # schedule ("Invalid end range: 7 > 6.") would not.
                return
        try:
            self.schedule  # noqa: B018  Celery's own checks (the 30th of February…)
        except (ValueError, TypeError, schedules.ParseException) as exc:
            raise ValidationError(str(exc)) from None

    @property
    def schedule(self) -> schedules.crontab:
        return schedules.crontab(minute=self.minute, hour=self.hour, day_of_week=self.day_of_week,
                                 day_of_month=self.day_of_month, month_of_year=self.month_of_year)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone or "UTC")

    @classmethod
    def from_schedule(cls, schedule: schedules.crontab, timezone: str | None = None) -> CrontabSchedule:
        """The row for ``schedule`` (created if missing)."""
        spec = {
            "minute": str(schedule._orig_minute), "hour": str(schedule._orig_hour),
            "day_of_week": str(schedule._orig_day_of_week), "day_of_month": str(schedule._orig_day_of_month),
            "month_of_year": str(schedule._orig_month_of_year), "timezone": timezone or default_timezone(),
        }
        return cls.objects.filter(**spec).first() or cls.objects.create(**spec)

    def __str__(self) -> str:
        return (f"{self.minute} {self.hour} {self.day_of_month} {self.month_of_year} {self.day_of_week} "
                f"(m/h/dM/MY/d) {self.timezone}")


class ClockedSchedule(models.Model):
    """One run at ``clocked_time`` (its task must be ``one_off``)."""

    clocked_time = models.DateTimeField("Clock Time", help_text="Run the task at clocked time")

    class Meta:
        verbose_name = "clocked"
        verbose_name_plural = "clocked"
        ordering = ["clocked_time"]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.clocked_time) if timezone.is_aware(self.clocked_time) else self.clocked_time}"


class PeriodicTasks(models.Model):
    """The change marker: one row whose ``last_update`` moves on every schedule change.

    Schedulers poll it (one indexed SELECT) and reload the database entries
    when it moved. ``QuerySet.update()`` sends no signals: call
    :meth:`update_changed` after one, as with django-celery-beat.
    """

    ident = models.SmallIntegerField(default=1, primary_key=True, unique=True)
    last_update = models.DateTimeField(null=False)

    class Meta:
        verbose_name = "periodic tasks change marker"

    @classmethod
    def changed(cls, instance: Any = None, **kwargs: Any) -> None:
        """A periodic task changed (django-celery-beat's name)."""
        if not getattr(instance, "no_changes", False):
            cls.update_changed()

    @classmethod
    def update_changed(cls, **kwargs: Any) -> None:
        """Move the marker: every scheduler reloads its database entries."""
        now = timezone.now()
        if not cls.objects.filter(ident=1).update(last_update=now):
            cls.objects.get_or_create(ident=1, defaults={"last_update": now})

    @classmethod
    def last_change(cls) -> dt.datetime | None:
        """When a schedule last changed, or None."""
        return cls.objects.filter(ident=1).values_list("last_update", flat=True).first()


class PeriodicTaskQuerySet(models.QuerySet):
    def enabled(self) -> PeriodicTaskQuerySet:
        """Enabled tasks, with their schedule rows fetched in the same query."""
        return self.filter(enabled=True).select_related("interval", "crontab", "clocked")


class PeriodicTask(models.Model):
    """A periodic task stored in the database: django-celery-beat's ``PeriodicTask``.

    Exactly one of ``interval``, ``crontab`` and ``clocked`` is set; a
    clocked task must be ``one_off``. ``args`` and ``kwargs`` are JSON
    (a list and an object); ``queue``, ``exchange``, ``routing_key``,
    ``priority``, ``headers`` and ``expire_seconds`` (or ``expires``, after
    which the task no longer runs) become the message's options.
    """

    name = models.CharField("Name", max_length=200, unique=True, help_text="Short Description For This Task")
    task = models.CharField("Task Name", max_length=200,
                            help_text='The Name of the Celery Task that Should be Run.  (Example: "proj.tasks.import_contacts")')
    interval = models.ForeignKey(IntervalSchedule, on_delete=models.CASCADE, null=True, blank=True,
                                 verbose_name="Interval Schedule",
                                 help_text="Interval Schedule to run the task on.  Set only one schedule type, "
                                           "leave the others null.")
    crontab = models.ForeignKey(CrontabSchedule, on_delete=models.CASCADE, null=True, blank=True,
                                verbose_name="Crontab Schedule",
                                help_text="Crontab Schedule to run the task on.  Set only one schedule type, "
                                          "leave the others null.")
    clocked = models.ForeignKey(ClockedSchedule, on_delete=models.CASCADE, null=True, blank=True,
                                verbose_name="Clocked Schedule",
                                help_text="Clocked Schedule to run the task on.  Set only one schedule type, "
                                          "leave the others null.")
    args = models.TextField("Positional Arguments", blank=True, default="[]",
                            help_text='JSON encoded positional arguments (Example: ["arg1", "arg2"])')
    kwargs = models.TextField("Keyword Arguments", blank=True, default="{}",
                              help_text='JSON encoded keyword arguments (Example: {"argument": "value"})')
    queue = models.CharField("Queue Override", max_length=200, blank=True, null=True, default=None,
                             help_text="Queue defined in CELERY_TASK_QUEUES. Leave None for default queuing.")
    exchange = models.CharField("Exchange", max_length=200, blank=True, null=True, default=None,
                                help_text="Override Exchange for low-level AMQP routing")
    routing_key = models.CharField("Routing Key", max_length=200, blank=True, null=True, default=None,
                                   help_text="Override Routing Key for low-level AMQP routing")
    headers = models.TextField("AMQP Message Headers", blank=True, default="{}",
                               help_text="JSON encoded message headers for the AMQP message.")
    priority = models.PositiveIntegerField("Priority", default=None, validators=[MaxValueValidator(255)],
                                           blank=True, null=True,
                                           help_text="Priority Number between 0 and 255. "
                                                     "Supported by: RabbitMQ, Redis (priority reversed, 0 is highest).")
    expires = models.DateTimeField("Expires Datetime", blank=True, null=True,
                                   help_text="Datetime after which the schedule will no longer trigger the task to run")
    expire_seconds = models.PositiveIntegerField("Expires timedelta with seconds", blank=True, null=True,
                                                 help_text="Timedelta with seconds which the schedule will no longer "
                                                           "trigger the task to run")
    one_off = models.BooleanField("One-off Task", default=False, help_text="If True, the schedule will only run the task a single time")
    start_time = models.DateTimeField("Start Datetime", blank=True, null=True,
                                      help_text="Datetime when the schedule should begin triggering the task to run")
    enabled = models.BooleanField("Enabled", default=True, help_text="Set to False to disable the schedule")
    last_run_at = models.DateTimeField("Last Run Datetime", auto_now=False, auto_now_add=False, editable=False,
                                       blank=True, null=True,
                                       help_text="Datetime that the schedule last triggered the task to run. ")
    total_run_count = models.PositiveIntegerField("Total Run Count", default=0, editable=False,
                                                  help_text="Running count of how many times the schedule has "
                                                            "triggered the task")
    date_changed = models.DateTimeField("Last Modified", auto_now=True,
                                        help_text="Datetime that this PeriodicTask was last modified")
    description = models.TextField("Description", blank=True, help_text="Detailed description about the details of this Periodic Task")

    objects = models.Manager.from_queryset(PeriodicTaskQuerySet)()
    no_changes = False

    class Meta:
        verbose_name = "periodic task"
        verbose_name_plural = "periodic tasks"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        set_ = [name for name in ("interval", "crontab", "clocked") if getattr(self, f"{name}_id", None)]
        if len(set_) != 1:
            message = ("Set exactly one schedule: an interval, a crontab or a clocked time"
                       + (f" (now set: {', '.join(set_)})" if set_ else ""))
            for name in ("interval", "crontab", "clocked"):
                errors.setdefault(name, []).append(message)
        if self.clocked_id and not self.one_off:
            errors.setdefault("one_off", []).append("A clocked schedule runs once: tick One-off Task.")
        if self.expires and self.expire_seconds:
            errors.setdefault("expire_seconds", []).append("Set Expires Datetime or Expires timedelta, not both.")
        for field, kind in (("args", list), ("kwargs", dict), ("headers", dict)):
            problem = json_problem(getattr(self, field), kind)
            if problem:
                errors.setdefault(field, []).append(problem)
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.exchange = self.exchange or None
        self.routing_key = self.routing_key or None
        self.queue = self.queue or None
        self.headers = self.headers or "{}"
        if not self.enabled or self._state.adding:
            # As django-celery-beat: a disabled task restarts fresh when re-enabled;
            # a new task never inherits the runs of a deleted one with its name.
            if not self.enabled:
                self.last_run_at = None
            if self.name:
                BeatEntryState.objects.db_manager(kwargs.get("using")).filter(name=self.name).delete()
        super().save(*args, **kwargs)

    @property
    def scheduler(self) -> models.Model | None:
        """The schedule row that is set."""
        return self.interval or self.crontab or self.clocked

    @property
    def schedule(self) -> Any:
        row = self.scheduler
        return row.schedule if row is not None and hasattr(row, "schedule") else None

    @property
    def expires_(self) -> dt.datetime | int | None:
        return self.expires or self.expire_seconds

    def __str__(self) -> str:
        return f"{self.name}: {self.scheduler or '{no schedule}'}"


def json_problem(text: str, kind: type) -> str | None:
    """Why ``text`` is not JSON of ``kind`` (a list or an object), or None."""
    if text in (None, ""):
        return None
    expected = 'a JSON list, e.g. [1, "two"]' if kind is list else 'a JSON object, e.g. {"key": 1}'
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"{text!r} is not valid JSON ({exc}); expected {expected}"
    if not isinstance(value, kind):
        return f"{text!r} is a JSON {type(value).__name__}; expected {expected}"
    return None


class BeatEntryState(models.Model):
    """Where one entry's schedule stands, shared by every scheduler.

    ``anchor_at`` is when a scheduler first saw the entry (an interval entry
    first fires one interval later, as in Celery); ``last_due_at`` is the
    latest due instant fired. Both are written with conditional statements so
    that concurrent schedulers converge on the same values.
    """

    name = models.CharField(max_length=200, unique=True)
    anchor_at = models.DateTimeField()
    last_due_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    total_run_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "beat entry state"
        verbose_name_plural = "beat entry states"

    def __str__(self) -> str:
        return f"{self.name} (last due {self.last_due_at})"


class BeatRunQuerySet(models.QuerySet):
    def delete_in_batches(self, batch_size: int = 1000) -> int:
        """Delete this queryset's rows, ``batch_size`` per statement; return the count."""
        deleted = 0
        while True:
            ids = list(self.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            count, _ = self.model._default_manager.filter(pk__in=ids).delete()
            deleted += count
            if len(ids) < batch_size:
                return deleted


class BeatRun(models.Model):
    """One due run of one entry, claimed by the scheduler that sent its message.

    The unique ``(name, due_at)`` is the exactly-once guarantee: the row is
    inserted in the transaction that publishes the task, so of N schedulers
    racing for the same run, one commits and the others insert nothing.
    """

    name = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    claimed_at = models.DateTimeField(db_index=True)
    hostname = models.CharField(max_length=255, blank=True, default="")
    task = models.CharField(max_length=200, blank=True, default="")
    task_id = models.CharField(max_length=255, blank=True, default="")

    objects = BeatRunQuerySet.as_manager()

    class Meta:
        verbose_name = "beat run"
        verbose_name_plural = "beat runs"
        ordering = ["-due_at"]
        constraints = [models.UniqueConstraint(fields=["name", "due_at"], name="celery_compat_beatrun_once")]

    def __str__(self) -> str:
        return f"{self.name} @ {self.due_at.isoformat()}"


def _forget_state(instance: PeriodicTask, **kwargs: Any) -> None:
    BeatEntryState.objects.filter(name=instance.name).delete()


models.signals.pre_delete.connect(PeriodicTasks.changed, sender=PeriodicTask)
models.signals.post_delete.connect(_forget_state, sender=PeriodicTask)
models.signals.post_save.connect(PeriodicTasks.changed, sender=PeriodicTask)
for _model in (IntervalSchedule, CrontabSchedule, ClockedSchedule):
    models.signals.post_save.connect(_bump, sender=_model)
    models.signals.post_delete.connect(_bump, sender=_model)
