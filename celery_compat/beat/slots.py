"""Due instants ("slots") of a schedule, the same in every scheduler.

Celery's beat asks ``schedule.is_due(last_run_at)``, where ``last_run_at``
is when this one process last sent the task. Several schedulers cannot share
that: each needs the *same* due instants, to claim them in the database. A
slot source answers two questions in absolute (UTC) time:

- ``next_after(t)``: the first due instant after ``t``;
- ``latest_at_or_before(now, after)``: the latest due instant in
  ``(after, now]`` (a run missed while everything was down fires once, at
  that instant, as Celery beat fires it once).

Intervals count from the entry's shared anchor (``BeatEntryState``):
``anchor + k * every``, so every scheduler derives the same instants.
Crontabs match wall-clock minutes of their time zone, as
:class:`celery_compat.schedules.crontab` does, and fix Celery's behaviour at
daylight-saving changes (listed in ``celery_compat/schedules.py``):

- clocks go forward: matching wall times inside the skipped hour fire once,
  at the first instant after the jump (cron's behaviour); runs merged there
  fire once;
- clocks go back: a crontab whose ``hour`` is ``*`` (an "every N minutes"
  or hourly schedule) fires in both passes of the repeated hour, as elapsed
  time requires; one with fixed hours fires once, in the first pass, so a
  daily 02:30 run does not run twice.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from .. import schedules

if TYPE_CHECKING:
    from croniter import croniter

UTC = dt.timezone.utc
#: Wider than any UTC offset change (DST shifts are at most 2 hours).
_MARGIN = dt.timedelta(hours=3)
_MINUTE = dt.timedelta(minutes=1)


class Slots(Protocol):
    """The due instants of one schedule (aware UTC datetimes)."""

    def next_after(self, t: dt.datetime) -> dt.datetime | None:
        """The first due instant strictly after ``t``; None if there is none."""

    def latest_at_or_before(self, now: dt.datetime, after: dt.datetime) -> dt.datetime | None:
        """The latest due instant in ``(after, now]``; None if there is none."""


class IntervalSlots:
    """``anchor + k * every``: elapsed time, not affected by DST."""

    def __init__(self, every: dt.timedelta) -> None:
        if every <= dt.timedelta(0):
            raise ValueError(f"an interval schedule needs a positive period, got {every!r}")
        self.every = every

    def next_after(self, t: dt.datetime) -> dt.datetime:
        return t + self.every

    def latest_at_or_before(self, now: dt.datetime, after: dt.datetime) -> dt.datetime | None:
        steps = (now - after) // self.every
        return after + steps * self.every if steps >= 1 else None


class RelativeIntervalSlots:
    """Celery's ``relative=True`` intervals: each end rounded to the period's unit on the wall clock."""

    def __init__(self, every: dt.timedelta, tz: dt.tzinfo) -> None:
        if every <= dt.timedelta(0):
            raise ValueError(f"an interval schedule needs a positive period, got {every!r}")
        self.every = every
        self.tz = tz

    def next_after(self, t: dt.datetime) -> dt.datetime:
        return schedules._interval_end(t.astimezone(self.tz), self.every, True)

    def latest_at_or_before(self, now: dt.datetime, after: dt.datetime) -> dt.datetime | None:
        # The ends are not a fixed grid: walk them, starting near now after a long gap.
        if (now - after) > self.every * 10_000:
            after = now - self.every * 3
        latest = None
        current = self.next_after(after)
        while current <= now:
            latest = current
            current = self.next_after(current)
        return latest


class ClockedSlots:
    """One instant."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at.astimezone(UTC)

    def next_after(self, t: dt.datetime) -> dt.datetime | None:
        return self.at if self.at > t else None

    def latest_at_or_before(self, now: dt.datetime, after: dt.datetime) -> dt.datetime | None:
        return self.at if after < self.at <= now else None


def _is_gap(wall: dt.datetime, tz: dt.tzinfo) -> bool:
    aware = wall.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall


def _gap_end(wall: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The instant clocks jumped forward over ``wall`` (a skipped wall time)."""
    # fold=1 reads the skipped time with the offset after the change (an
    # instant before the jump), fold=0 with the one before (after the jump).
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if hi < lo:
        lo, hi = hi, lo
    before = lo.astimezone(tz).utcoffset()
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


def wall_instants(wall: dt.datetime, tz: dt.tzinfo, both_passes: bool) -> list[dt.datetime]:
    """The UTC instants at which the naive wall time ``wall`` fires in ``tz``.

    Normally one. A skipped wall time fires at the end of the gap; a repeated
    one fires in its first pass, and also in its second with ``both_passes``.
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if _is_gap(wall, tz):
        return [_gap_end(wall, tz)]
    return sorted({first, second}) if both_passes else [min(first, second)]


class CrontabSlots:
    """The wall-clock minutes a crontab matches, in ``tz``, as instants (see the module docstring)."""

    def __init__(self, cron: schedules.crontab, tz: dt.tzinfo) -> None:
        self.cron = cron
        self.tz = tz
        self.every_hour = len(cron.hour) == 24
        self.expression = " ".join((
            schedules._cron_field(cron.minute, 60),
            schedules._cron_field(cron.hour, 24),
            schedules._cron_field(cron.day_of_month, 31),
            schedules._cron_field(cron.month_of_year, 12),
            schedules._cron_field(cron.day_of_week, 7),
        ))

    def _walls(self, start: dt.datetime) -> croniter:
        from croniter import croniter  # here: only beat needs it (see schedules.crontab)

        # day_or=False: day of month AND day of week must match, as in Celery.
        return croniter(self.expression, start, day_or=False, max_years_between_matches=100)

    def _wall(self, t: dt.datetime) -> dt.datetime:
        return t.astimezone(self.tz).replace(tzinfo=None, fold=0)

    def next_after(self, t: dt.datetime) -> dt.datetime | None:
        walls = self._walls(self._wall(t - _MARGIN).replace(second=0, microsecond=0) - _MINUTE)
        best: dt.datetime | None = None
        limit: dt.datetime | None = None
        while True:
            wall = walls.get_next(dt.datetime)
            if limit is not None and wall > limit:
                return best
            for instant in wall_instants(wall, self.tz, self.every_hour):
                if instant > t and (best is None or instant < best):
                    best = instant
            if best is not None and limit is None:
                # Later wall times can still be earlier instants around a DST change.
                limit = wall + _MARGIN

    def latest_at_or_before(self, now: dt.datetime, after: dt.datetime) -> dt.datetime | None:
        walls = self._walls(self._wall(now + _MARGIN).replace(second=0, microsecond=0) + _MINUTE)
        floor = self._wall(after - _MARGIN)
        best: dt.datetime | None = None
        limit: dt.datetime | None = None
        while True:
            wall = walls.get_prev(dt.datetime)
            if (limit is not None and wall < limit) or wall < floor:
                return best if best is not None and best > after else None
            for instant in wall_instants(wall, self.tz, self.every_hour):
                if instant <= now and (best is None or instant > best):
                    best = instant
            if best is not None and limit is None:
                limit = wall - _MARGIN


def zone(tz: dt.tzinfo | str | None) -> dt.tzinfo:
    """A tzinfo from a name (``'Europe/Paris'``) or a tzinfo; UTC for None."""
    if tz is None:
        return UTC
    return ZoneInfo(tz) if isinstance(tz, str) else tz
