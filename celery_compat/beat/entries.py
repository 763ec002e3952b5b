"""Beat entries: what to send and when, from ``beat_schedule`` or ``PeriodicTask`` rows.

A settings entry has Celery's format::

    CELERY_BEAT_SCHEDULE = {
        "cleanup": {"task": "app.tasks.cleanup", "schedule": crontab(minute=0, hour=4),
                    "args": (), "kwargs": {}, "options": {"queue": "low", "expires": 3600},
                    "relative": False},
    }

``schedule`` is a number of seconds, a ``timedelta``, a
:class:`~celery_compat.schedules.schedule` or a
:class:`~celery_compat.schedules.crontab`. Crontabs are read on the wall
clock of ``app.timezone`` (``timezone``, else Django's ``TIME_ZONE``, else
UTC); database crontabs on their own ``timezone`` column.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from .. import schedules
from ..exceptions import ImproperlyConfigured
from .slots import ClockedSlots, CrontabSlots, IntervalSlots, RelativeIntervalSlots, Slots, zone

if TYPE_CHECKING:
    from ..app import Celery
    from .models import PeriodicTask

UTC = dt.timezone.utc
ENTRY_KEYS = {"task", "schedule", "args", "kwargs", "options", "relative"}


@dataclass
class Entry:
    """One periodic task: its name, what it sends, and its due instants."""

    name: str
    task: str
    slots: Slots
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    #: "settings" or "database"
    source: str = "settings"
    #: the PeriodicTask row's id (database entries)
    row_id: int | None = None
    #: when the definition last changed: runs due before it are not caught up one by one
    changed_at: dt.datetime | None = None
    #: no run before this instant
    start_time: dt.datetime | None = None
    #: no run after this instant (PeriodicTask.expires)
    ends_at: dt.datetime | None = None
    one_off: bool = False
    #: a clocked entry runs at its time even if that was before the entry was first seen
    clocked: bool = False
    #: what the entry was built from, to notice a changed definition
    fingerprint: Any = None

    def next_after(self, t: dt.datetime) -> dt.datetime | None:
        """The first due instant after ``t``, not before ``start_time``."""
        if self.start_time is not None and t < self.start_time:
            if isinstance(self.slots, (IntervalSlots, RelativeIntervalSlots)):
                return self.start_time
            t = self.start_time - dt.timedelta(microseconds=1)
        return self.slots.next_after(t)

    def latest_at_or_before(self, now: dt.datetime, after: dt.datetime) -> dt.datetime | None:
        """The latest due instant in ``(after, now]``, not before ``start_time``."""
        start = self.start_time
        if start is None or after >= start:
            return self.slots.latest_at_or_before(now, after)
        if start > now:
            return None
        if isinstance(self.slots, (IntervalSlots, RelativeIntervalSlots)):
            # An interval's first run is start_time itself.
            return self.slots.latest_at_or_before(now, start) or start
        return self.slots.latest_at_or_before(now, start - dt.timedelta(microseconds=1))

    def message_options(self) -> dict[str, Any]:
        """The ``apply_async`` options, with the ``periodic_task_name`` header."""
        options = dict(self.options)
        headers = dict(options.pop("headers", None) or {})
        headers.setdefault("periodic_task_name", self.name)
        options["headers"] = headers
        return options


def _bad(name: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"beat_schedule[{name!r}]: {problem}")


def slots_for(schedule: Any, relative: bool, tz: dt.tzinfo, where: str) -> Slots:
    """The slot source of a ``beat_schedule`` ``schedule`` value."""
    if isinstance(schedule, bool):
        raise ImproperlyConfigured(f"{where}: 'schedule' must be seconds, a timedelta or a crontab, got {schedule!r}")
    if isinstance(schedule, (int, float)):
        schedule = dt.timedelta(seconds=schedule)
    if isinstance(schedule, dt.timedelta):
        schedule = schedules.schedule(schedule, relative=relative)
    if isinstance(schedule, schedules.crontab):
        return CrontabSlots(schedule, tz)
    if isinstance(schedule, schedules.schedule):
        every = schedule.run_every
        if not isinstance(every, dt.timedelta) or every <= dt.timedelta(0):
            raise ImproperlyConfigured(f"{where}: an interval schedule needs a positive period, got {every!r}")
        if schedule.relative or relative:
            return RelativeIntervalSlots(every, tz)
        return IntervalSlots(every)
    raise ImproperlyConfigured(
        f"{where}: unsupported schedule {schedule!r} ({type(schedule).__name__}); use a number of seconds, "
        "a timedelta, celery_compat.schedules.schedule or celery_compat.schedules.crontab "
        "(custom schedule classes cannot be claimed by several schedulers)"
    )


def _jsonable_options(name: str, options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise _bad(name, f"'options' must be a dict of apply_async options, got {options!r}")
    return dict(options)


def entry_from_settings(app: Celery, name: str, spec: Any) -> Entry:
    """An :class:`Entry` from one ``beat_schedule`` item; ``ImproperlyConfigured`` naming what is wrong."""
    if not isinstance(spec, Mapping):
        raise _bad(name, f"each entry must be a dict with 'task' and 'schedule', got {spec!r}")
    unknown = set(spec) - ENTRY_KEYS
    if unknown:
        raise _bad(name, f"unknown keys {sorted(unknown)}; an entry has {sorted(ENTRY_KEYS)}")
    task = spec.get("task")
    if not isinstance(task, str) or not task:
        raise _bad(name, f"'task' must be the task's registered name, got {task!r}")
    if "schedule" not in spec:
        raise _bad(name, "'schedule' is missing: give seconds, a timedelta or a crontab")
    args = spec.get("args") or ()
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise _bad(name, f"'args' must be a list or tuple, got {args!r}")
    kwargs = spec.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise _bad(name, f"'kwargs' must be a dict, got {kwargs!r}")
    relative = bool(spec.get("relative", False))
    schedule = spec["schedule"]
    tz = app.timezone
    slots = slots_for(schedule, relative, tz, f"beat_schedule[{name!r}]")
    options = _jsonable_options(name, spec.get("options"))
    return Entry(
        name=name, task=task, slots=slots, args=tuple(args), kwargs=dict(kwargs), options=options,
        source="settings", fingerprint=("settings", task, repr(schedule), relative, tuple(args), repr(kwargs),
                                        repr(options), str(tz)),
    )


def settings_entries(app: Celery) -> dict[str, Entry]:
    """Every entry of ``app.conf.beat_schedule`` (``add_periodic_task`` writes there too)."""
    table = app.conf.beat_schedule or {}
    if not isinstance(table, Mapping):
        raise ImproperlyConfigured(f"beat_schedule must be a dict of entries, got {type(table).__name__}")
    return {str(name): entry_from_settings(app, str(name), spec) for name, spec in table.items()}


def default_entries(app: Celery, existing: Mapping[str, Entry]) -> dict[str, Entry]:
    """Celery beat's default entry: ``celery.backend_cleanup`` daily at 04:00 (expires after 12 h)
    when ``result_expires`` is set and the backend does not expire results itself."""
    if "celery.backend_cleanup" in existing or not app.conf.result_expires:
        return {}
    if getattr(app.backend, "supports_autoexpire", False):
        return {}
    spec = {"task": "celery.backend_cleanup", "schedule": schedules.crontab("0", "4", "*"),
            "options": {"expires": 12 * 3600}}
    return {"celery.backend_cleanup": entry_from_settings(app, "celery.backend_cleanup", spec)}


class BadRow(ValueError):
    """A ``PeriodicTask`` row that cannot be scheduled (the reason is the message)."""


def entry_from_row(row: PeriodicTask) -> Entry:
    """An :class:`Entry` from a ``PeriodicTask`` row; :class:`BadRow` says why it cannot run."""
    if row.interval_id:
        interval = row.interval
        every = dt.timedelta(**{interval.period: interval.every})
        if every <= dt.timedelta(0):
            raise BadRow(f"interval {interval} is not positive")
        slots: Slots = IntervalSlots(every)
        spec: Any = ("interval", interval.every, interval.period)
    elif row.crontab_id:
        cron = row.crontab
        try:
            slots = CrontabSlots(cron.schedule, zone(cron.timezone or "UTC"))
        except Exception as exc:  # a row edited outside the admin's validation
            raise BadRow(f"crontab {cron}: {exc}") from None
        spec = ("crontab", str(cron))
    elif row.clocked_id:
        slots = ClockedSlots(row.clocked.clocked_time)
        spec = ("clocked", row.clocked.clocked_time)
    else:
        raise BadRow("no schedule set: choose an interval, a crontab or a clocked time")
    try:
        args = json.loads(row.args or "[]")
        kwargs = json.loads(row.kwargs or "{}")
        headers = json.loads(row.headers or "{}")
    except ValueError as exc:
        raise BadRow(f"args, kwargs or headers are not valid JSON: {exc}") from None
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(headers, dict):
        raise BadRow("args must be a JSON list, kwargs and headers JSON objects")
    options: dict[str, Any] = {"headers": headers}
    for name in ("queue", "exchange", "routing_key", "priority"):
        value = getattr(row, name)
        if value not in (None, ""):
            options[name] = value
    if row.expire_seconds:
        options["expires"] = row.expire_seconds
    return Entry(
        name=row.name, task=row.task, slots=slots, args=tuple(args), kwargs=kwargs, options=options,
        source="database", row_id=row.pk, changed_at=row.date_changed, start_time=row.start_time,
        ends_at=row.expires, one_off=row.one_off, clocked=bool(row.clocked_id),
        fingerprint=("database", row.pk, row.task, spec, row.args, row.kwargs, row.headers, row.queue, row.exchange,
                     row.routing_key, row.priority, row.expire_seconds, row.start_time, row.expires, row.one_off),
    )
