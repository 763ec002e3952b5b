"""Differential tests: ``celery_compat.schedules`` against real Celery's.

Hypothesis draws crontab specs (numbers, names, ranges, wrapping ranges,
steps, lists, ``'*'``, ints, sets), time zones (Europe/Paris,
America/New_York, UTC), instants over 2020-2030 with many within hours of a
DST change, ``last_run_at`` as local, UTC, other-zone or naive values, and
``now`` anywhere from before ``last_run_at`` to weeks after it, or right at
the next run. Both sides get an app with the same settings and the same
``nowfun``. Results must be equal exactly: both compute the same instants
and subtract them as ``timedelta``, so there is no float noise to allow for.

Celery is in the ``test`` extra: a missing Celery fails these tests.
"""

from __future__ import annotations

import functools
import importlib
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any, Callable
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import celery_compat
from celery_compat import schedules

UTC = timezone.utc
TIME_ZONES = ("Europe/Paris", "America/New_York", "UTC")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sunday", "Monday", "FRI")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "March", "OCT")
SETTINGS = settings(
    max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def celery_schedules() -> ModuleType:
    return importlib.import_module("celery.schedules")


@functools.cache
def apps(tz_name: str) -> tuple[Any, celery_compat.Celery]:
    """Real Celery's app and ours, both on ``tz_name`` with ``enable_utc``."""
    theirs = importlib.import_module("celery").Celery(set_as_current=False)
    ours = celery_compat.Celery(set_as_current=False, broker="memory://")
    for app in (theirs, ours):
        app.conf.timezone = tz_name
        app.conf.enable_utc = True
    return theirs, ours


@functools.cache
def dst_changes(tz_name: str) -> tuple[datetime, ...]:
    """Every UTC offset change of ``tz_name`` in 2020-2030 (Paris's for UTC)."""
    zone = ZoneInfo("Europe/Paris" if tz_name == "UTC" else tz_name)
    changes = []
    day = datetime(2020, 1, 1, tzinfo=UTC)
    while day.year < 2031:
        after = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            hour = day
            while hour.astimezone(zone).utcoffset() == day.astimezone(zone).utcoffset():
                hour += timedelta(hours=1)
            changes.append(hour)
        day = after
    return tuple(changes)


# -- strategies ----------------------------------------------------------------------


@functools.cache
def near_changes(tz_name: str) -> Any:
    return st.sampled_from(dst_changes(tz_name))


def cron_field(low: int, high: int, names: tuple[str, ...] = ()) -> Any:
    """One crontab field, from ``low`` to ``high``, in every form Celery accepts."""
    numbers = st.integers(low, high)
    atom = numbers.map(str) | st.sampled_from(names) if names else numbers.map(str)
    step = st.integers(1, high - low + 2).map(str)
    part = st.one_of(
        st.just("*"),
        atom,
        st.tuples(atom, atom).map("-".join),
        step.map(lambda s: f"*/{s}"),
        st.tuples(atom, atom, step).map(lambda t: f"{t[0]}-{t[1]}/{t[2]}"),
    )
    return st.one_of(
        st.just("*"),
        st.lists(part, min_size=1, max_size=4).map(",".join),
        numbers,
        st.sets(numbers, min_size=1, max_size=6),
        st.lists(numbers, min_size=1, max_size=6),
    )


@functools.cache  # built once: building strategies costs more than running an example
def crontab_specs(near_dst: bool = False) -> Any:
    specs = st.fixed_dictionaries({
        "minute": cron_field(0, 59),
        "hour": cron_field(0, 23),
        "day_of_week": cron_field(0, 6, DAY_NAMES),
        "day_of_month": cron_field(1, 31),
        "month_of_year": cron_field(1, 12, MONTH_NAMES),
    })
    if not near_dst:
        return specs
    # Half the specs run in the hours that DST changes skip or repeat (01:00 to
    # 02:59 in both zones) on days that include the changes' Sundays.
    dst_shaped = st.fixed_dictionaries({
        "minute": cron_field(0, 59),
        "hour": st.sampled_from(["2", "2", 2, "2,5", "*/2", "1,2", "1-3", {1}, "*"]),
        "day_of_week": st.sampled_from(["*", "*", 0, "sun", "sat-mon"]),
        "day_of_month": st.sampled_from(["*", "*", "*", "1-14", "25-31"]),
        "month_of_year": st.sampled_from(["*", "*", "*", 3, "mar", "3,10,11", "oct-nov"]),
    })
    return dst_shaped | specs


def instant(data: Any, tz_name: str, near_dst: bool) -> datetime:
    """A UTC instant in 2020-2030, within six hours of a DST change if ``near_dst``."""
    if near_dst or data.draw(st.booleans()):
        change = data.draw(near_changes(tz_name))
        when = change + timedelta(seconds=data.draw(st.integers(-6 * 3600, 6 * 3600)))
    else:
        naive = data.draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)))
        when = naive.replace(tzinfo=UTC)
    if data.draw(st.booleans()):  # on or near a whole minute, where runs are
        when = when.replace(
            second=data.draw(st.sampled_from([0, 0, 30, 59])),
            microsecond=data.draw(st.sampled_from([0, 0, 1, 999_999])),
        )
    return when


def as_given(data: Any, when: datetime, tz_name: str) -> datetime:
    """``when`` as a caller might pass it: local, UTC, in another zone, or naive UTC."""
    kind = data.draw(st.sampled_from(["local", "local", "utc", "other", "naive"]))
    if kind == "local":
        return when.astimezone(ZoneInfo(tz_name))
    if kind == "utc":
        return when
    if kind == "other":
        return when.astimezone(ZoneInfo("Asia/Kolkata"))
    return when.replace(tzinfo=None)


def later(data: Any, when: datetime) -> datetime:
    seconds = data.draw(st.one_of(st.integers(-3600, 4 * 3600), st.integers(0, 40 * 86400)))
    return when + timedelta(seconds=seconds, microseconds=data.draw(st.sampled_from([0, 0, 1, 500_000])))


def clock(now: datetime) -> Callable[[], datetime]:
    return lambda: now


def error(call: Callable[[], Any]) -> tuple[str, str] | None:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - both sides' errors are compared
        return type(exc).__name__, str(exc)
    return None


# -- crontab -------------------------------------------------------------------------


def check_crontab(data: Any, near_dst: bool) -> None:
    tz_name = data.draw(st.sampled_from(TIME_ZONES))
    spec = data.draw(crontab_specs(near_dst))
    theirs_app, ours_app = apps(tz_name)
    deadline = data.draw(st.one_of(st.none(), st.none(), st.integers(0, 7200), st.sampled_from([60, 86400])))
    theirs_app.conf.beat_cron_starting_deadline = ours_app.conf.beat_cron_starting_deadline = deadline

    failure = error(lambda: celery_schedules().crontab(**spec, app=theirs_app))
    if failure:
        assert error(lambda: schedules.crontab(**spec, app=ours_app)) == failure
        return
    last = instant(data, tz_name, near_dst)
    last_given = as_given(data, last, tz_name)
    probe = celery_schedules().crontab(**spec, app=theirs_app, nowfun=clock(last))
    l_run, delta, _ = probe.remaining_delta(last_given)
    next_run = (l_run + delta).astimezone(UTC)
    if data.draw(st.booleans()):
        now = later(data, last)
    else:  # right at the next run: the edge of is_due
        now = next_run + timedelta(microseconds=data.draw(st.sampled_from([-10**6, -1, 0, 0, 1, 10**6])))
    now_given = now.astimezone(ZoneInfo(tz_name)) if data.draw(st.integers(0, 4)) else now.replace(tzinfo=None)

    theirs = celery_schedules().crontab(**spec, app=theirs_app, nowfun=clock(now_given))
    ours = schedules.crontab(**spec, app=ours_app, nowfun=clock(now_given))
    assert (ours.minute, ours.hour, ours.day_of_week, ours.day_of_month, ours.month_of_year) == (
        theirs.minute, theirs.hour, theirs.day_of_week, theirs.day_of_month, theirs.month_of_year
    )
    assert repr(ours) == repr(theirs)

    their_last, their_delta, their_now = theirs.remaining_delta(last_given)
    our_last, our_delta, our_now = ours.remaining_delta(last_given)
    assert (our_last.astimezone(UTC), our_last.utcoffset()) == (their_last.astimezone(UTC), their_last.utcoffset())
    assert (our_now.astimezone(UTC), our_now.utcoffset()) == (their_now.astimezone(UTC), their_now.utcoffset())
    assert (our_last + our_delta).astimezone(UTC) == (their_last + their_delta).astimezone(UTC) == next_run
    assert ours.remaining_estimate(last_given) == theirs.remaining_estimate(last_given)
    state = ours.is_due(last_given)
    assert state == theirs.is_due(last_given)

    # Shown by --hypothesis-show-statistics: what the examples covered.
    event(f"is_due={state.is_due}")
    event(f"deadline={'set' if deadline is not None else 'none'}")
    local_last = last.astimezone(ZoneInfo(tz_name))
    if local_last.utcoffset() != (last - timedelta(hours=6)).astimezone(ZoneInfo(tz_name)).utcoffset():
        event("last_run_at within 6 h after a DST change")
    if local_last.fold or next_run.astimezone(ZoneInfo(tz_name)).fold:
        event("last_run_at or next run in the second pass of a repeated hour")
    if next_run.astimezone(ZoneInfo(tz_name)).replace(tzinfo=None) != (our_last + our_delta).replace(tzinfo=None):
        event("next run's wall time skipped by a DST change")


@SETTINGS
@given(data=st.data())
def test_crontab_is_due_and_next_run_match_celery(data: Any) -> None:
    check_crontab(data, near_dst=False)


@SETTINGS
@given(data=st.data())
def test_crontab_matches_celery_around_dst_changes(data: Any) -> None:
    check_crontab(data, near_dst=True)


# -- parser and intervals ---------------------------------------------------------


@settings(max_examples=3000, deadline=None, database=None)
@given(
    spec=st.text(alphabet="0123456789-/,* _janfebmrsuothwdiyJMTO\n", max_size=14),
    bounds=st.sampled_from([(60, 0), (24, 0), (7, 0), (31, 1), (12, 1)]),
)
def test_crontab_parser_parses_and_rejects_like_celery(spec: str, bounds: tuple[int, int]) -> None:
    theirs = celery_schedules().crontab_parser(*bounds)
    ours = schedules.crontab_parser(*bounds)
    failure = error(lambda: theirs.parse(spec))
    assert error(lambda: ours.parse(spec)) == failure
    if failure is None:
        assert ours.parse(spec) == theirs.parse(spec)


RUN_EVERY = st.one_of(
    st.sampled_from([timedelta(0), timedelta(seconds=1), timedelta(seconds=30), timedelta(minutes=1),
                     timedelta(minutes=15), timedelta(hours=1), timedelta(minutes=90), timedelta(days=1),
                     timedelta(days=2), timedelta(days=7)]),
    st.integers(1, 3 * 86400),
    st.floats(0.001, 3 * 86400.0),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)


@SETTINGS
@given(data=st.data(), run_every=RUN_EVERY, relative=st.booleans())
def test_schedule_is_due_matches_celery(data: Any, run_every: Any, relative: bool) -> None:
    tz_name = data.draw(st.sampled_from(TIME_ZONES))
    theirs_app, ours_app = apps(tz_name)
    last = instant(data, tz_name, near_dst=data.draw(st.booleans()))
    last_given = as_given(data, last, tz_name)
    now = clock(later(data, last).astimezone(ZoneInfo(tz_name)))
    theirs = celery_schedules().schedule(run_every, relative, nowfun=now, app=theirs_app)
    ours = schedules.schedule(run_every, relative, nowfun=now, app=ours_app)

    assert (ours.seconds, ours.human_seconds, repr(ours)) == (theirs.seconds, theirs.human_seconds, repr(theirs))
    assert ours.remaining_estimate(last_given) == theirs.remaining_estimate(last_given)
    assert ours.is_due(last_given) == theirs.is_due(last_given)
