"""Due instants of crontabs and intervals: as Celery away from DST changes, never doubled or lost at them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celery_compat.beat.slots import CrontabSlots, IntervalSlots, wall_instants
from celery_compat.schedules import crontab

UTC = dt.timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
#: 2024's changes: (zone, spring forward day, fall back day)
CHANGES = [(PARIS, dt.date(2024, 3, 31), dt.date(2024, 10, 27)),
           (NEW_YORK, dt.date(2024, 3, 10), dt.date(2024, 11, 3))]


def slots_of_day(expr: str, tz: ZoneInfo, day: dt.date) -> list[dt.datetime]:
    """Every due instant from local midnight to the next midnight, in order."""
    source = CrontabSlots(crontab.from_string(expr), tz)
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(UTC)
    out, t = [], start - dt.timedelta(microseconds=1)
    while (t := source.next_after(t)) is not None and t < end:
        out.append(t)
    return out


def local(instants: list[dt.datetime], tz: ZoneInfo) -> list[str]:
    return [t.astimezone(tz).strftime("%H:%M%z") for t in instants]


@pytest.mark.parametrize("tz,spring,fall", CHANGES, ids=["Europe/Paris", "America/New_York"])
def test_every_quarter_hour_keeps_elapsed_time_across_both_changes(tz, spring, fall):
    for day, hours in ((spring, 23), (fall, 25)):
        instants = slots_of_day("*/15 * * * *", tz, day)
        assert len(instants) == hours * 4
        gaps = {b - a for a, b in zip(instants, instants[1:])}
        assert gaps == {dt.timedelta(minutes=15)}  # no double, no 75-minute hole (Celery has one)


@pytest.mark.parametrize("tz,spring,fall", CHANGES, ids=["Europe/Paris", "America/New_York"])
def test_hourly_runs_every_elapsed_hour(tz, spring, fall):
    assert len(slots_of_day("0 * * * *", tz, spring)) == 23
    fall_runs = slots_of_day("0 * * * *", tz, fall)
    assert len(fall_runs) == 25
    assert {b - a for a, b in zip(fall_runs, fall_runs[1:])} == {dt.timedelta(hours=1)}


def test_a_daily_run_in_the_changing_hour_runs_exactly_once():
    # Paris: 02:30 is skipped in March (fires when clocks jump, 03:00) and repeated in October (first pass).
    assert local(slots_of_day("30 2 * * *", PARIS, dt.date(2024, 3, 31)), PARIS) == ["03:00+0200"]
    assert local(slots_of_day("30 2 * * *", PARIS, dt.date(2024, 10, 27)), PARIS) == ["02:30+0200"]
    # New York: 01:30 is repeated in November, 02:30 skipped in March.
    assert local(slots_of_day("30 1 * * *", NEW_YORK, dt.date(2024, 11, 3)), NEW_YORK) == ["01:30-0400"]
    assert local(slots_of_day("30 2 * * *", NEW_YORK, dt.date(2024, 3, 10)), NEW_YORK) == ["03:00-0400"]


def test_runs_inside_the_skipped_hour_fire_once_when_clocks_jump():
    # Celery runs '15,45 2' at 03:15 only and '*/30 1-3' loses 02:30 (see celery_compat/schedules.py).
    assert local(slots_of_day("15,45 2 * * *", PARIS, dt.date(2024, 3, 31)), PARIS) == ["03:00+0200"]
    assert local(slots_of_day("*/30 1-3 * * *", PARIS, dt.date(2024, 3, 31)), PARIS) == [
        "01:00+0100", "01:30+0100", "03:00+0200", "03:30+0200"]


def test_wall_instants():
    assert wall_instants(dt.datetime(2024, 10, 27, 2, 30), PARIS, True) == [
        dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC), dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC)]
    assert wall_instants(dt.datetime(2024, 10, 27, 2, 30), PARIS, False) == [
        dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC)]
    assert wall_instants(dt.datetime(2024, 3, 31, 2, 30), PARIS, False) == [
        dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC)]


def test_interval_grid_and_missed_runs():
    slots = IntervalSlots(dt.timedelta(seconds=10))
    anchor = dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert slots.next_after(anchor) == anchor + dt.timedelta(seconds=10)
    assert slots.latest_at_or_before(anchor + dt.timedelta(seconds=95), anchor) == anchor + dt.timedelta(seconds=90)
    assert slots.latest_at_or_before(anchor + dt.timedelta(seconds=9), anchor) is None


FIELDS = st.sampled_from(["*", "*/5", "*/15", "0", "30", "0,30", "10-20", "45"])
HOURS = st.sampled_from(["*", "*/2", "0", "2", "1-3", "9-17", "23"])
DOWS = st.sampled_from(["*", "mon-fri", "sun", "6"])
DOMS = st.sampled_from(["*", "1", "15", "1-7", "31"])
INSTANTS = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2025, 12, 31))


def _near_change(t: dt.datetime, tz: ZoneInfo) -> bool:
    """Within a day of a UTC offset change."""
    return any((t + dt.timedelta(hours=h)).astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset()
               for h in range(-30, 31, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(minute=FIELDS, hour=HOURS, dow=DOWS, dom=DOMS, naive=INSTANTS,
       tz=st.sampled_from([PARIS, NEW_YORK, ZoneInfo("UTC")]))
def test_next_run_is_celerys_away_from_dst_changes(minute, hour, dow, dom, naive, tz):
    """Against real Celery's crontab: the next run after a run at ``t`` is the same instant."""
    from celery.schedules import crontab as celery_crontab

    t = naive.replace(tzinfo=UTC, second=0, microsecond=0)
    source = CrontabSlots(crontab(minute=minute, hour=hour, day_of_week=dow, day_of_month=dom), tz)
    ours = source.next_after(t)
    if _near_change(t, tz) or _near_change(ours, tz):
        return
    theirs_cron = celery_crontab(minute=minute, hour=hour, day_of_week=dow, day_of_month=dom,
                                 nowfun=lambda: t.astimezone(tz))
    theirs_cron.tz = tz
    last, delta, _ = theirs_cron.remaining_delta(t.astimezone(tz), tz=tz)
    theirs = (last + delta).astimezone(UTC)
    assert ours == theirs
    # and the latest run at or before it, after t, is itself
    assert source.latest_at_or_before(ours, t) == ours
    assert source.latest_at_or_before(ours - dt.timedelta(microseconds=1), t) is None


def test_relative_intervals_run_on_the_unit():
    from celery_compat.beat.slots import RelativeIntervalSlots

    hourly = RelativeIntervalSlots(dt.timedelta(hours=1), PARIS)
    t = dt.datetime(2024, 1, 1, 12, 20, tzinfo=UTC)
    assert hourly.next_after(t) == dt.datetime(2024, 1, 1, 13, 0, tzinfo=UTC)
    assert hourly.next_after(dt.datetime(2024, 1, 1, 13, 0, tzinfo=UTC)) == dt.datetime(2024, 1, 1, 14, 0, tzinfo=UTC)
    assert hourly.latest_at_or_before(dt.datetime(2024, 1, 1, 17, 5, tzinfo=UTC), t) == dt.datetime(
        2024, 1, 1, 17, 0, tzinfo=UTC)
    # daily, relative: local midnight, also across the autumn change
    daily = RelativeIntervalSlots(dt.timedelta(days=1), PARIS)
    start = dt.datetime(2024, 10, 26, 9, 0, tzinfo=PARIS)
    assert daily.next_after(start).astimezone(PARIS) == dt.datetime(2024, 10, 27, 0, 0, tzinfo=PARIS)
    after = daily.next_after(daily.next_after(start))
    assert after.astimezone(PARIS).replace(tzinfo=None) == dt.datetime(2024, 10, 28, 0, 0)
