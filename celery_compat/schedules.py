"""Schedules of periodic tasks: ``schedule`` (intervals), ``crontab``, ``solar``.

The names, arguments, attributes, error messages and results are Celery's
(``celery.schedules``); ``croniter`` finds the next matching wall-clock time
of a crontab and everything else (time zones, ``is_due``) is written here.
``tests/unit/schedules/test_crontab_differential.py`` checks that ``crontab``
and real Celery's give the same ``is_due`` and next-run instants for
thousands of random expressions and instants, across DST changes.

Time. ``now()`` is ``nowfun()`` or ``app.now()``, aware in ``app.timezone``.
A naive ``last_run_at`` (or a naive ``now``) is taken as UTC, as in Celery.
A crontab is matched on the wall clock of ``app.timezone``: the next run is
the first matching minute after ``last_run_at``'s wall-clock minute, read
as Python reads a wall time with ``fold=0`` (Celery adds a wall-clock delta
to ``last_run_at``, which resets ``fold``): a time repeated when clocks go
back is its first pass, a time skipped when they go forward is read with the
offset from before the change, i.e. one gap later (02:30 -> 03:30).
Interval schedules count elapsed time (``relative`` ones round on the wall
clock, then compare instants) and are not affected by DST changes.

Deliberate differences (none changes a result for valid input):

- ``crontab`` refuses non-integer members of a set or list (``minute=[1.5]``)
  at construction; Celery accepts them and fails at the first ``is_due``.
- ``crontab.from_string`` names the expected fields when the string does not
  have five; Celery's ``ValueError`` is about unpacking.
- ``solar`` raises ``ImproperlyConfigured``: Celery computes solar events
  with ``ephem``, which is not a dependency here.

DST changes: where Celery's crontab arithmetic misses or doubles runs (found
by simulating beat, Celery 5.7, Europe/Paris and America/New_York; beat sets
``last_run_at`` to the time it sent the task). This module keeps Celery's
results, so the scheduler must handle these:

1. Run storm after a ``last_run_at`` in the second pass of a repeated hour.
   If ``last_run_at`` is in the second pass (``fold=1``: beat started, an
   entry added or a run sent between 02:00 and 03:00 winter time on the last
   Sunday of October in Paris, 01:00-02:00 EST in New York) and the next match
   is in the same repeated hour, that match is read as its first pass, which
   is already over: ``is_due`` is ``(True, 0)``; the run's own ``last_run_at``
   is again in the second pass, so the task is due again at every tick until
   the wall clock passes the match. ``'*/5 * * * *'`` started at 01:10 EST
   on 2024-11-03 sends on every tick until 03:05; ``'30 2 * * *'`` started at
   02:10 CET on 2024-10-27 sends on every tick until 02:30 CET, and not at
   02:30 itself.
2. Spring forward, runs inside the skipped hour: each is read one hour later,
   and only the first survives: ``'15,45 2 * * *'`` runs at 03:15 and loses
   02:45; ``'*/30 1-3 * * *'`` runs at 01:00, 01:30, 03:00, 03:30 (02:00 is
   moved onto 03:00 and merged with it, 02:30 is lost). A single daily run in
   the gap (``'30 2 * * *'``) runs once, at 03:30.
3. Fall back: a match in the repeated hour runs once, in the first pass
   (cron's wall-clock semantics; no double while ``last_run_at`` is in the
   first pass), so ``'*/15 * * * *'`` goes from 02:45 summer time to 03:00
   winter time: 75 minutes without a run.
"""

from __future__ import annotations

import numbers
import re
from collections import namedtuple
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Union
from zoneinfo import ZoneInfo

from . import _state
from .exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from .app import Celery

__all__ = ("ParseException", "schedule", "crontab", "crontab_parser", "maybe_schedule", "solar")

#: ``is_due()``'s result: whether to run now, and in how many seconds to check again.
schedstate = namedtuple("schedstate", ("is_due", "next"))

Cronspec = Union[int, str, Iterable[int]]
NowFun = Callable[[], datetime]

# Celery's messages, verbatim: user code and tests match on them.
CRON_PATTERN_INVALID = "Invalid crontab pattern.  Valid range is {min}-{max}. '{value}' was found."
CRON_INVALID_TYPE = (
    "Argument cronspec needs to be of any of the following types: int, str, or an iterable type. {type!r} was given."
)
CRON_INVALID_DATE = "Invalid crontab: day_of_month {day_of_month!r} never occurs in month_of_year {month_of_year!r}."
CRON_REPR = (
    "<crontab: {0._orig_minute} {0._orig_hour} {0._orig_day_of_month} {0._orig_month_of_year} "
    "{0._orig_day_of_week} (m/h/dM/MY/d)>"
)
SOLAR_UNSUPPORTED = (
    "solar({event!r}, {lat!r}, {lon!r}): solar schedules are not supported by celery_compat (Celery computes "
    "them with the 'ephem' library, which is not installed with it). Use a crontab at a fixed local time "
    "instead, e.g. crontab(minute=0, hour=19)."
)

#: Days in each month, February with 29: a day_of_month must fit one of its months.
DAYS_IN_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
#: Names by their first three letters (the parser ignores the rest and the case).
MONTH_NAMES = {name: number for number, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
DAY_NAMES = {name: number for number, name in enumerate("sun mon tue wed thu fri sat".split())}
UTC = timezone.utc


class ParseException(Exception):
    """Raised by :class:`crontab_parser` when the input can't be parsed.

    A bare ``Exception``, as Celery's: code written for Celery catches bad
    crontab strings with ``except (ValueError, ParseException)`` (Celery
    raises ``ValueError`` for bad values and ``ParseException`` for bad
    syntax such as ``'1,,2'``), and so does ours.
    """


# -- time helpers ------------------------------------------------------------------


def _wall_offsets(dt: datetime) -> tuple[timedelta | None, timedelta | None]:
    """UTC offsets of ``dt``'s wall time read as the first and the second pass."""
    return dt.replace(fold=0).utcoffset(), dt.replace(fold=1).utcoffset()


def _exists(dt: datetime) -> bool:
    """False for a wall time skipped by a DST change (02:30 when clocks jump 2→3)."""
    return dt.astimezone(UTC).astimezone(dt.tzinfo).replace(tzinfo=None) == dt.replace(tzinfo=None)


def _skip_gap(dt: datetime) -> datetime:
    """Move a skipped wall time forward by the size of the gap (02:30 → 03:30)."""
    if _exists(dt):
        return dt
    before, after = _wall_offsets(dt)
    shifted = dt + (after - before) if before is not None and after is not None else dt
    return shifted if shifted.replace(tzinfo=None) > dt.replace(tzinfo=None) else dt


def _localize(dt: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz`` to a naive wall time: a skipped time moves forward, a repeated one is the first."""
    dt = dt.replace(tzinfo=tz)
    before, after = _wall_offsets(dt)
    if before != after or dt.replace(fold=0).dst() != dt.replace(fold=1).dst():
        return _skip_gap(dt) if not _exists(dt) else dt.replace(fold=0)
    return dt


def _humanize_seconds(secs: float) -> str:
    """``'10.00 seconds'``, ``'1.00 minute'``, ``'2.50 hours'``; ``'now'`` below a second."""
    secs = float(format(float(secs), ".2f"))
    for unit, size in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0)):
        if secs >= size:
            count = secs / size
            return f"{count:.2f} {unit}{'' if count == 1 else 's'}"
    return "now"


def _relative_boundaries(dt: datetime, every: timedelta) -> list[datetime]:
    """``dt`` truncated to ``every``'s unit (day, hour, minute, second), as UTC
    instants for both passes of a repeated wall time (a skipped one moves forward)."""
    secs = max(every.total_seconds(), 0)
    if secs >= 86400:
        dt = dt.replace(hour=0, minute=0, second=0)
    elif secs >= 3600:
        dt = dt.replace(minute=0, second=0)
    elif secs >= 60:
        dt = dt.replace(second=0)
    dt = dt.replace(microsecond=0)
    return [_skip_gap(dt.replace(fold=fold)).astimezone(UTC) for fold in (0, 1)]


def _interval_end(start: datetime, every: timedelta, relative: bool) -> datetime:
    """When an interval that began at ``start`` (aware) ends, as a UTC instant.

    Without ``relative`` that is ``every`` of elapsed time later. With it the end
    is rounded down to ``every``'s unit on ``start``'s wall clock (an hourly
    schedule runs on the hour), but never at or before ``start``; a period of
    days or more counts calendar days, so a daily run stays at midnight across
    a DST change.
    """
    start_utc = start.astimezone(UTC)
    if not relative:
        return start_utc + timedelta(seconds=every.total_seconds())
    if every >= timedelta(days=1):
        wall_end = start + every
        later = [b for b in _relative_boundaries(wall_end, every) if b > start_utc]
        return min(later, default=wall_end.astimezone(UTC))
    limit = start_utc + timedelta(seconds=every.total_seconds())
    wall_end = limit.astimezone(start.tzinfo)
    boundaries = _relative_boundaries(wall_end, every)
    in_time = [b for b in boundaries if b <= limit]
    end = max(in_time) if in_time else min(boundaries)
    if every >= timedelta(minutes=1) and end <= start_utc:
        # A DST change moved the rounded boundary back to (or before) start:
        # also try the next hour/minute boundary and the wall-clock period.
        unit = timedelta(hours=1) if every >= timedelta(hours=1) else timedelta(minutes=1)
        boundaries += _relative_boundaries(wall_end + unit, every)
        boundaries += _relative_boundaries(start + every, every)
        later = [b for b in boundaries if b > start_utc]
        in_time = [b for b in later if b <= limit]
        end = max(in_time) if in_time else min(later, default=limit)
    return end


# -- schedules ---------------------------------------------------------------------


class BaseSchedule:
    """What a beat entry's schedule provides: ``is_due()`` and ``remaining_estimate()``."""

    def __init__(self, nowfun: NowFun | None = None, app: Celery | None = None) -> None:
        self.nowfun = nowfun
        self._app = app

    def now(self) -> datetime:
        """The current time: ``nowfun()``, else ``app.now()`` (aware, in ``app.timezone``)."""
        return (self.nowfun or self.app.now)()

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Time left until the next run after ``last_run_at`` (negative when overdue)."""
        raise NotImplementedError()

    def is_due(self, last_run_at: datetime) -> schedstate:
        """``(is_due, seconds until the next check)`` for a task last run at ``last_run_at``."""
        raise NotImplementedError()

    def maybe_make_aware(self, dt: datetime, naive_as_utc: bool = True) -> datetime:
        """``dt`` if aware; a naive ``dt`` is UTC (or, without ``naive_as_utc``,
        wall time in ``tz``), returned in ``tz``."""
        if dt.tzinfo is not None and dt.utcoffset() is not None:
            return dt
        if naive_as_utc:
            return dt.replace(tzinfo=UTC).astimezone(self.tz)
        return _localize(dt, self.tz)

    @property
    def app(self) -> Celery:
        """The app given, else the current app."""
        return self._app or _state.get_current_app()

    @app.setter
    def app(self, app: Celery | None) -> None:
        self._app = app

    @cached_property
    def tz(self) -> tzinfo:
        """``app.timezone``, read once."""
        return self.app.timezone

    @cached_property
    def utc_enabled(self) -> bool:
        """``app.conf.enable_utc``, read once."""
        return bool(self.app.conf.enable_utc)

    def to_local(self, dt: datetime) -> datetime:
        """With ``enable_utc`` off: a naive ``dt`` as system local time, a UTC one
        converted to it (aware), others unchanged. With it on: ``dt``."""
        if self.utc_enabled:
            return dt
        if dt.tzinfo is None or dt.utcoffset() is None or dt.tzinfo == ZoneInfo("UTC"):
            return dt.astimezone()  # Python's own reading of the system zone
        return dt

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, BaseSchedule):
            return other.nowfun == self.nowfun
        return NotImplemented


class schedule(BaseSchedule):
    """Run every ``run_every`` (a ``timedelta`` or seconds).

    With ``relative=True`` the run times are rounded to the interval's unit on
    the wall clock (an hourly schedule runs on the hour).
    """

    relative: bool = False

    def __init__(
        self,
        run_every: float | timedelta | None = None,
        relative: bool = False,
        nowfun: NowFun | None = None,
        app: Celery | None = None,
    ) -> None:
        # Any real number is seconds (Celery's maybe_timedelta); None stays None.
        self.run_every: Any = timedelta(seconds=run_every) if isinstance(run_every, numbers.Real) else run_every
        self.relative = relative
        super().__init__(nowfun=nowfun, app=app)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Time left until ``last_run_at + run_every`` (rounded when relative)."""
        start = self.maybe_make_aware(last_run_at)
        now = self.maybe_make_aware(self.now())
        return _interval_end(start, self.run_every, self.relative) - now.astimezone(UTC)

    def is_due(self, last_run_at: datetime) -> schedstate:
        """``(True, seconds)`` when the interval has passed, else ``(False, seconds left)``.

        When due, ``next`` is the interval (for a relative schedule: the time
        to the next rounded boundary).
        """
        last_run_at = self.maybe_make_aware(last_run_at)
        left = max(self.remaining_estimate(last_run_at).total_seconds(), 0)
        if left:
            return schedstate(is_due=False, next=left)
        next_s = self.seconds
        if self.relative:
            now = self.maybe_make_aware(self.now()).astimezone(last_run_at.tzinfo)
            next_s = self.remaining_estimate(now).total_seconds()
            if next_s <= 0:
                next_s = self.seconds
        return schedstate(is_due=True, next=next_s)

    @property
    def seconds(self) -> float:
        """The interval in seconds (0 for a negative one)."""
        return max(self.run_every.total_seconds(), 0)

    @property
    def human_seconds(self) -> str:
        """The interval for people: ``'10.00 seconds'``."""
        return _humanize_seconds(self.seconds)

    def __repr__(self) -> str:
        return f"<freq: {self.human_seconds}>"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, schedule):
            return self.run_every == other.run_every
        return self.run_every == other

    def __reduce__(self) -> tuple[type, tuple[Any, bool, NowFun | None]]:
        return self.__class__, (self.run_every, self.relative, self.nowfun)


_RANGE_STEP = re.compile(r"(\w+?)-(\w+)/(\w+)?")
_RANGE = re.compile(r"(\w+?)-(\w+)")
_STAR_STEP = re.compile(r"\*/(\w+)?")
_STAR = re.compile(r"\*$")


class crontab_parser:
    """Expand one crontab field (``'*/15'``, ``'1-5'``, ``'mon-fri'``, ``'1,3,5'``) to a set.

    ``crontab_parser(60).parse('*/15') == {0, 15, 30, 45}``; fields that start
    at 1 take ``min_=1``: ``crontab_parser(12, 1).parse('2-12/2')``. Values run
    from ``min_`` to ``min_ + max_ - 1``; a range whose end is below its start
    wraps around (``'fri-mon'``). Month and day names use their first three
    letters. Bad input raises :class:`ParseException` or ``ValueError``.
    """

    ParseException = ParseException

    def __init__(self, max_: int = 60, min_: int = 0) -> None:
        self.max_ = max_
        self.min_ = min_

    def parse(self, spec: str) -> set[int]:
        """The set of values ``spec`` names."""
        values: set[int] = set()
        for part in spec.split(","):
            if not part:
                raise self.ParseException("empty part")
            values.update(self._parse_part(part))
        return values

    def _parse_part(self, part: str) -> list[int]:
        # Each pattern need only match the start of ``part``, as in Celery.
        match = _RANGE_STEP.match(part)
        if match:
            first, last, step = match.groups()
            if not step:
                raise self.ParseException("empty filter")
            return self._span(first, last)[:: int(step)]
        match = _RANGE.match(part)
        if match:
            return self._span(*match.groups())
        match = _STAR_STEP.match(part)
        if match:
            if not match.group(1):
                raise self.ParseException("empty filter")
            return self._every()[:: int(match.group(1))]
        if _STAR.match(part):
            return self._every()
        return [self._number(part)]

    def _every(self) -> list[int]:
        return list(range(self.min_, self.min_ + self.max_))

    def _span(self, first: str, last: str) -> list[int]:
        start, end = self._number(first), self._number(last)
        if end < start:
            return list(range(start, self.min_ + self.max_)) + list(range(self.min_, end + 1))
        return list(range(start, end + 1))

    def _number(self, token: str) -> int:
        if token.startswith("-"):
            raise self.ParseException("negative numbers not supported")
        try:
            value = int(token)
        except ValueError:
            name = token[:3].lower()
            if name in MONTH_NAMES:
                value = MONTH_NAMES[name]
            elif name in DAY_NAMES:
                value = DAY_NAMES[name]
            else:
                raise ValueError(f"Invalid weekday literal {token!r}.") from None
        highest = self.min_ + self.max_ - 1
        if value > highest:
            raise ValueError(f"Invalid end range: {value} > {highest}.")
        if value < self.min_:
            raise ValueError(f"Invalid beginning range: {value} < {self.min_}.")
        return value


def _expand_cronspec(spec: Cronspec, max_: int, min_: int = 0) -> set[int]:
    """An int, a crontab string or an iterable of ints, as the set of values it names."""
    if isinstance(spec, int):
        values = {spec}
    elif isinstance(spec, str):
        values = crontab_parser(max_, min_).parse(spec)
    elif isinstance(spec, Iterable):
        values = set(spec)
    else:
        raise TypeError(CRON_INVALID_TYPE.format(type=type(spec)))
    for value in values:
        if not isinstance(value, int) or not min_ <= value < min_ + max_:
            raise ValueError(CRON_PATTERN_INVALID.format(min=min_, max=max_ - 1 + min_, value=value))
    return values


def _cron_field(values: set[int], size: int) -> str:
    return "*" if len(values) == size else ",".join(map(str, sorted(values)))


class crontab(BaseSchedule):
    """Run at the times a crontab names, on the wall clock of ``app.timezone``.

    Each field is an int, a crontab string (``'*/15'``, ``'mon-fri'``,
    ``'1,13,30-45'``) or an iterable of ints: ``minute`` 0-59, ``hour`` 0-23,
    ``day_of_week`` 0-6 (0 is Sunday), ``day_of_month`` 1-31, ``month_of_year``
    1-12. Note the order: day of week before day of month, unlike cron (use
    :meth:`from_string` for cron order). Unlike cron, a day must match both
    ``day_of_month`` and ``day_of_week``. The attributes ``minute``, ``hour``,
    ... hold the expanded sets, ``_orig_minute``, ... the arguments.
    ``ValueError`` is raised if no ``day_of_month`` occurs in any
    ``month_of_year`` (the 30th of February).
    """

    def __init__(
        self,
        minute: Cronspec = "*",
        hour: Cronspec = "*",
        day_of_week: Cronspec = "*",
        day_of_month: Cronspec = "*",
        month_of_year: Cronspec = "*",
        *,
        nowfun: NowFun | None = None,
        app: Celery | None = None,
    ) -> None:
        self._orig_minute = "*" if minute is None else minute
        self._orig_hour = "*" if hour is None else hour
        self._orig_day_of_week = "*" if day_of_week is None else day_of_week
        self._orig_day_of_month = "*" if day_of_month is None else day_of_month
        self._orig_month_of_year = "*" if month_of_year is None else month_of_year
        self._orig_kwargs = {k: v for k, v in (("nowfun", nowfun), ("app", app)) if v is not None}
        self.hour = _expand_cronspec(self._orig_hour, 24)
        self.minute = _expand_cronspec(self._orig_minute, 60)
        self.day_of_week = _expand_cronspec(self._orig_day_of_week, 7)
        self.day_of_month = _expand_cronspec(self._orig_day_of_month, 31, 1)
        self.month_of_year = _expand_cronspec(self._orig_month_of_year, 12, 1)
        if not any(day <= DAYS_IN_MONTH[month] for month in self.month_of_year for day in self.day_of_month):
            raise ValueError(
                CRON_INVALID_DATE.format(day_of_month=self._orig_day_of_month, month_of_year=self._orig_month_of_year)
            )
        super().__init__(nowfun=nowfun, app=app)

    @classmethod
    def from_string(cls, crontab: str) -> crontab:
        """A crontab from a cron line in cron's order: ``'minute hour day_of_month month day_of_week'``."""
        fields = crontab.split(" ")
        if len(fields) != 5:
            raise ValueError(
                f"Invalid crontab string {crontab!r}: expected 5 fields separated by single spaces, "
                f"'minute hour day_of_month month_of_year day_of_week', got {len(fields)}."
            )
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        return cls(minute, hour, day_of_week, day_of_month, month_of_year)

    def _next_wall_time(self, after: datetime) -> datetime:
        """The first matching wall-clock minute after ``after``'s minute (both naive)."""
        expression = " ".join((
            _cron_field(self.minute, 60),
            _cron_field(self.hour, 24),
            _cron_field(self.day_of_month, 31),
            _cron_field(self.month_of_year, 12),
            _cron_field(self.day_of_week, 7),
        ))
        # Imported here: croniter and dateutil are 2 MiB that only schedules
        # need, and every worker process imports this module (beat models).
        from croniter import croniter

        # day_or=False: day of month AND day of week must match, as in Celery.
        found = croniter(expression, after, day_or=False, max_years_between_matches=100).get_next(datetime)
        assert isinstance(found, datetime)
        return found

    def remaining_delta(
        self, last_run_at: datetime, tz: str | tzinfo | None = None
    ) -> tuple[datetime, timedelta, datetime]:
        """``(last_run_at, delta, now)``, both times in the schedule's time zone, where
        ``last_run_at + delta`` is the next run (``delta`` is wall-clock time)."""
        zone = tz or self.tz
        zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        # An aware last_run_at may come in another zone (a database in UTC):
        # the fields match on the schedule's wall clock.
        last_run_at = self.maybe_make_aware(last_run_at).astimezone(zone)
        now = self.maybe_make_aware(self.now()).astimezone(zone)
        wall = last_run_at.replace(tzinfo=None)
        return last_run_at, self._next_wall_time(wall) - wall, now

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        """Time from now until the next run after ``last_run_at`` (negative when overdue).

        The next run's wall time is read with ``fold=0`` (see the module docstring).
        """
        last_run_at, delta, now = self.remaining_delta(last_run_at)
        # Aware + timedelta is wall-clock arithmetic and gives fold=0, as Celery's ffwd.
        return (last_run_at + delta).astimezone(UTC) - now.astimezone(UTC)

    def is_due(self, last_run_at: datetime) -> schedstate:
        """``(is_due, seconds until the next run)``.

        With ``beat_cron_starting_deadline`` set, an overdue run is not due when
        no run time falls within that many seconds before now: a run missed
        long ago (beat was down) is skipped rather than made late.
        """
        left = self.remaining_estimate(last_run_at).total_seconds()
        due = left <= 0
        stale = False
        deadline = self.app.conf.beat_cron_starting_deadline
        if deadline is not None and left < 0:
            now = self.maybe_make_aware(self.now())
            # The microsecond keeps a run at exactly now - deadline within it.
            since = (now.astimezone(UTC) - timedelta(seconds=deadline, microseconds=1)).astimezone(now.tzinfo)
            if self.remaining_estimate(since).total_seconds() > 0:
                stale, due = True, False
        if due or stale:
            left = self.remaining_estimate(self.now()).total_seconds()
        return schedstate(due, max(left, 0))

    def __repr__(self) -> str:
        return CRON_REPR.format(self)

    def __reduce__(self) -> tuple[type, tuple[Cronspec, ...], dict[str, Any]]:
        args = (
            self._orig_minute,
            self._orig_hour,
            self._orig_day_of_week,
            self._orig_day_of_month,
            self._orig_month_of_year,
        )
        return self.__class__, args, self._orig_kwargs

    def __setstate__(self, state: dict[str, Any]) -> None:
        BaseSchedule.__init__(self, **state)
        self._orig_kwargs = dict(state)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, crontab):
            return (
                other.month_of_year == self.month_of_year
                and other.day_of_month == self.day_of_month
                and other.day_of_week == self.day_of_week
                and other.hour == self.hour
                and other.minute == self.minute
                and super().__eq__(other)
            )
        return NotImplemented


def maybe_schedule(
    s: float | timedelta | BaseSchedule | None, relative: bool = False, app: Celery | None = None
) -> BaseSchedule | None:
    """A schedule from a number of seconds, a ``timedelta`` or a schedule (given ``app``)."""
    if s is None:
        return None
    if isinstance(s, (int, float)):
        s = timedelta(seconds=s)
    if isinstance(s, timedelta):
        return schedule(s, relative, app=app)
    s.app = app
    return s


class solar(BaseSchedule):
    """Solar events (sunrise, sunset, ...): not supported; raises ``ImproperlyConfigured``."""

    def __init__(self, event: str, lat: float, lon: float, **kwargs: Any) -> None:
        raise ImproperlyConfigured(SOLAR_UNSUPPORTED.format(event=event, lat=lat, lon=lon))
