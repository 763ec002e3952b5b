"""``celery_compat.schedules`` by example: parsing, rejections, intervals, DST.

The DST examples at the end pin down, on both our crontab and real Celery's,
the behaviour that the module docstring lists for the scheduler to handle.
"""

from __future__ import annotations

import importlib
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import celery_compat
from celery_compat import _state
from celery_compat.exceptions import ImproperlyConfigured
from celery_compat.schedules import (
    ParseException,
    crontab,
    crontab_parser,
    maybe_schedule,
    schedstate,
    schedule,
    solar,
)

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def app_factory() -> Any:
    def make(tz_name: str = "UTC", **conf: Any) -> celery_compat.Celery:
        app = celery_compat.Celery(set_as_current=False, broker="memory://")
        app.conf.timezone = tz_name
        app.conf.update(conf)
        return app

    return make


def at(when: datetime) -> Any:
    return lambda: when


# -- crontab_parser ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "spec", "expected"),
    [
        ((60, 0), "*/15", {0, 15, 30, 45}),
        ((24, 0), "*/4", {0, 4, 8, 12, 16, 20}),
        ((7, 0), "*", {0, 1, 2, 3, 4, 5, 6}),
        ((31, 1), "*/3", {1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31}),
        ((12, 1), "2-12/2", {2, 4, 6, 8, 10, 12}),
        ((60, 0), "1,13,30-33,50-59/4", {1, 13, 30, 31, 32, 33, 50, 54, 58}),
        ((7, 0), "mon-fri", {1, 2, 3, 4, 5}),
        ((7, 0), "fri-mon", {5, 6, 0, 1}),
        ((7, 0), "Sunday", {0}),
        ((12, 1), "jan-mar,OCT", {1, 2, 3, 10}),
        ((24, 0), "22-2", {22, 23, 0, 1, 2}),
    ],
)
def test_parser_expands_numbers_names_ranges_steps_and_lists(
    bounds: tuple[int, int], spec: str, expected: set[int]
) -> None:
    assert crontab_parser(*bounds).parse(spec) == expected


@pytest.mark.parametrize(
    ("bounds", "spec", "error", "message"),
    [
        ((7, 0), "7", ValueError, "Invalid end range: 7 > 6."),
        ((60, 0), "60", ValueError, "Invalid end range: 60 > 59."),
        ((31, 1), "0", ValueError, "Invalid beginning range: 0 < 1."),
        ((60, 0), "-1", ParseException, "negative numbers not supported"),
        ((60, 0), "*/", ParseException, "empty filter"),
        ((60, 0), "1-5/", ParseException, "empty filter"),
        ((60, 0), "5,,6", ParseException, "empty part"),
        ((60, 0), "", ParseException, "empty part"),
        ((7, 0), "funday", ValueError, "Invalid weekday literal 'funday'."),
        ((60, 0), "*/0", ValueError, "slice step cannot be zero"),
    ],
)
def test_parser_rejects_bad_fields_with_celerys_messages(
    bounds: tuple[int, int], spec: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        crontab_parser(*bounds).parse(spec)
    assert str(info.value) == message


def test_parse_exception_is_the_parsers_and_not_a_value_error() -> None:
    assert crontab_parser.ParseException is ParseException
    assert not issubclass(ParseException, ValueError)


# -- crontab -------------------------------------------------------------------------


def test_crontab_fields_are_expanded_sets_and_keep_the_original_spec() -> None:
    entry = crontab(minute="*/15", hour=[8, 17], day_of_week="mon-fri")

    assert entry.minute == {0, 15, 30, 45}
    assert entry.hour == {8, 17}
    assert entry.day_of_week == {1, 2, 3, 4, 5}
    assert entry.day_of_month == set(range(1, 32))
    assert entry.month_of_year == set(range(1, 13))
    assert (entry._orig_minute, entry._orig_hour, entry._orig_day_of_week) == ("*/15", [8, 17], "mon-fri")
    assert repr(entry) == "<crontab: */15 [8, 17] * * mon-fri (m/h/dM/MY/d)>"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"day_of_week": "7"}, ValueError, "Invalid end range: 7 > 6."),
        ({"day_of_week": 7}, ValueError, "Invalid crontab pattern.  Valid range is 0-6. '7' was found."),
        ({"hour": {24}}, ValueError, "Invalid crontab pattern.  Valid range is 0-23. '24' was found."),
        ({"day_of_month": 0}, ValueError, "Invalid crontab pattern.  Valid range is 1-31. '0' was found."),
        (
            {"day_of_month": "30,31", "month_of_year": "feb"},
            ValueError,
            "Invalid crontab: day_of_month '30,31' never occurs in month_of_year 'feb'.",
        ),
        (
            {"minute": 1.5},
            TypeError,
            "Argument cronspec needs to be of any of the following types: int, str, or an iterable type. "
            "<class 'float'> was given.",
        ),
        # Celery accepts this and fails at the first is_due(); we refuse it at once.
        ({"minute": [1.5]}, ValueError, "Invalid crontab pattern.  Valid range is 0-59. '1.5' was found."),
    ],
)
def test_crontab_rejects_invalid_fields_with_clear_messages(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        crontab(**kwargs)
    assert str(info.value) == message


def test_from_string_takes_cron_order() -> None:
    entry = crontab.from_string("*/15 2-3 1 jan mon")

    assert entry == crontab(minute="*/15", hour="2-3", day_of_week="mon", day_of_month=1, month_of_year="jan")
    assert repr(entry) == "<crontab: */15 2-3 1 jan mon (m/h/dM/MY/d)>"


def test_from_string_names_the_fields_when_the_count_is_wrong() -> None:
    fields = "'minute hour day_of_month month_of_year day_of_week'"
    with pytest.raises(ValueError, match=f"expected 5 fields .*{fields}, got 3"):
        crontab.from_string("0 4 *")


def test_crontab_equality_compares_expanded_fields_and_nowfun() -> None:
    assert crontab(minute=0, hour="*/12") == crontab(minute="0", hour={0, 12})
    assert crontab(minute=0) != crontab(minute=1)
    assert crontab(minute=0) != crontab(minute=0, nowfun=lambda: datetime.now(UTC))
    assert crontab() != schedule(60)


def test_crontab_and_schedule_survive_pickling() -> None:
    entry = crontab(minute="*/5", hour="9-17", day_of_week="mon-fri")
    interval = schedule(timedelta(minutes=5), relative=True)

    assert pickle.loads(pickle.dumps(entry)) == entry
    copy = pickle.loads(pickle.dumps(interval))
    assert (copy.run_every, copy.relative) == (timedelta(minutes=5), True)


def test_day_of_month_and_day_of_week_must_both_match(app_factory: Any) -> None:
    # Friday the 13th, unlike cron where either would do.
    now = datetime(2024, 9, 14, tzinfo=UTC)
    entry = crontab(minute=0, hour=0, day_of_week="fri", day_of_month=13, app=app_factory(), nowfun=at(now))

    last_run_at, delta, _ = entry.remaining_delta(now)

    assert last_run_at + delta == datetime(2024, 12, 13, tzinfo=UTC)


def test_crontab_is_due_when_a_run_time_has_passed(app_factory: Any) -> None:
    now = datetime(2024, 6, 1, 10, 0, 30, tzinfo=UTC)
    entry = crontab(minute="*/15", app=app_factory(), nowfun=at(now))

    assert entry.is_due(datetime(2024, 6, 1, 9, 50, tzinfo=UTC)) == schedstate(True, 870.0)
    assert entry.is_due(datetime(2024, 6, 1, 10, 0, 1, tzinfo=UTC)) == schedstate(False, 870.0)
    assert entry.remaining_estimate(datetime(2024, 6, 1, 9, 50, tzinfo=UTC)) == timedelta(seconds=-30)


def test_crontab_matches_the_wall_clock_of_the_app_timezone(app_factory: Any) -> None:
    # 07:00 UTC is 09:00 in Paris in June; naive last_run_at values are UTC.
    now = datetime(2024, 6, 1, 7, 0, tzinfo=UTC)
    entry = crontab(minute=0, hour=9, app=app_factory("Europe/Paris"), nowfun=at(now))

    assert entry.is_due(datetime(2024, 6, 1, 6, 0)) == schedstate(True, 86400.0)
    assert entry.is_due(now) == schedstate(False, 86400.0)


def test_starting_deadline_skips_runs_missed_long_ago(app_factory: Any) -> None:
    now = datetime(2024, 6, 1, 10, 30, tzinfo=UTC)
    last_run_at = datetime(2024, 6, 1, 7, 0, tzinfo=UTC)  # 08:00, 09:00 and 10:00 were missed
    app = app_factory(beat_cron_starting_deadline=600)
    entry = crontab(minute=0, app=app, nowfun=at(now))

    assert entry.is_due(last_run_at) == schedstate(False, 1800.0)
    app.conf.beat_cron_starting_deadline = 3600  # 10:00 is within the last hour
    assert entry.is_due(last_run_at) == schedstate(True, 1800.0)
    app.conf.beat_cron_starting_deadline = None
    assert entry.is_due(last_run_at) == schedstate(True, 1800.0)


def test_schedules_without_an_app_use_the_current_app() -> None:
    assert crontab().app is _state.get_current_app()
    assert schedule(10).app is _state.get_current_app()


# -- schedule -------------------------------------------------------------------------


def test_schedule_takes_seconds_or_a_timedelta() -> None:
    assert schedule(10).run_every == timedelta(seconds=10)
    assert schedule(1.5).seconds == 1.5
    assert schedule(timedelta(minutes=2)).seconds == 120
    assert schedule(10) == schedule(timedelta(seconds=10)) == timedelta(seconds=10)
    assert schedule(-5).seconds == 0


@pytest.mark.parametrize(
    ("run_every", "text"),
    [
        (10, "10.00 seconds"),
        (1, "1.00 second"),
        (60, "1.00 minute"),
        (5400, "1.50 hours"),
        (172800, "2.00 days"),
        (0, "now"),
    ],
)
def test_schedule_repr_is_celerys(run_every: float, text: str) -> None:
    assert schedule(run_every).human_seconds == text
    assert repr(schedule(run_every)) == f"<freq: {text}>"


def test_schedule_is_due_after_the_interval(app_factory: Any) -> None:
    now = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    every_10s = schedule(10, nowfun=at(now), app=app_factory())

    assert every_10s.is_due(now - timedelta(seconds=4)) == schedstate(False, 6.0)
    assert every_10s.is_due(now - timedelta(seconds=10)) == schedstate(True, 10.0)
    assert every_10s.is_due(now - timedelta(hours=1)) == schedstate(True, 10.0)


def test_relative_schedule_rounds_to_the_interval_unit(app_factory: Any) -> None:
    now = datetime(2024, 6, 1, 10, 30, tzinfo=UTC)
    hourly = schedule(timedelta(hours=1), relative=True, nowfun=at(now), app=app_factory())
    plain = schedule(timedelta(hours=1), nowfun=at(now), app=app_factory())

    # Last run at 10:20: relative runs at 11:00, plain at 11:20.
    assert hourly.remaining_estimate(datetime(2024, 6, 1, 10, 20, tzinfo=UTC)) == timedelta(minutes=30)
    assert plain.remaining_estimate(datetime(2024, 6, 1, 10, 20, tzinfo=UTC)) == timedelta(minutes=50)
    # When due, the next check is at the next whole hour, not an hour later.
    assert hourly.is_due(datetime(2024, 6, 1, 9, 20, tzinfo=UTC)) == schedstate(True, 1800.0)


# -- maybe_schedule and solar ----------------------------------------------------------


def test_maybe_schedule_turns_numbers_and_timedeltas_into_schedules(app_factory: Any) -> None:
    app = app_factory()

    assert maybe_schedule(None) is None
    from_seconds = maybe_schedule(30, app=app)
    assert isinstance(from_seconds, schedule) and from_seconds.run_every == timedelta(seconds=30)
    assert from_seconds.app is app
    from_delta = maybe_schedule(timedelta(hours=1), relative=True)
    assert isinstance(from_delta, schedule) and from_delta.relative
    entry = crontab(minute=0)
    assert maybe_schedule(entry, app=app) is entry and entry.app is app


def test_solar_is_refused_with_a_pointer_to_crontab() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"solar schedules are not supported.*crontab\(minute=0, hour=19\)"):
        solar("sunset", 48.85, 2.35)


# -- DST: Celery's behaviour, kept (see the module docstring) ------------------------------


def both(spec: str, tz_name: str, now: datetime) -> list[Any]:
    """Our crontab and real Celery's for ``spec`` in ``tz_name``, both at ``now``."""
    theirs_app = importlib.import_module("celery").Celery(set_as_current=False)
    ours_app = celery_compat.Celery(set_as_current=False, broker="memory://")
    entries = []
    for module, app in ((importlib.import_module("celery.schedules"), theirs_app), (celery_compat.schedules, ours_app)):
        app.conf.timezone = tz_name
        entry = module.crontab.from_string(spec)
        entry.app, entry.nowfun = app, at(now)
        entries.append(entry)
    return entries


def next_run(entry: Any, last_run_at: datetime) -> datetime:
    last, delta, _ = entry.remaining_delta(last_run_at)
    # Through UTC: astimezone() to the same zone would not normalize a skipped time.
    return (last + delta).astimezone(UTC).astimezone(last.tzinfo)


def test_a_run_in_the_skipped_hour_runs_one_gap_later_and_the_next_one_is_lost() -> None:
    # Paris, 2024-03-31: clocks jump from 02:00 to 03:00.
    last_run_at = datetime(2024, 3, 30, 2, 45, tzinfo=PARIS)
    for entry in both("15,45 2 * * *", "Europe/Paris", last_run_at):
        first = next_run(entry, last_run_at)
        assert first.isoformat() == "2024-03-31T03:15:00+02:00"
        assert next_run(entry, first).isoformat() == "2024-04-01T02:15:00+02:00"


def test_a_run_in_the_repeated_hour_runs_in_the_first_pass_only() -> None:
    # New York, 2024-11-03: 01:00-01:59 happens twice.
    last_run_at = datetime(2024, 11, 3, 0, 45, tzinfo=NEW_YORK)
    for entry in both("*/15 * * * *", "America/New_York", last_run_at):
        last = datetime(2024, 11, 3, 1, 45, tzinfo=NEW_YORK)
        assert next_run(entry, last).isoformat() == "2024-11-03T02:00:00-05:00"  # 75 minutes later


def test_a_last_run_in_the_second_pass_of_the_repeated_hour_is_due_at_every_tick() -> None:
    # Paris, 2024-10-27, beat started at 02:10 winter time (second pass): the
    # 02:30 run is read as 02:30 summer time, already over, so it is due now,
    # and again after running, until the wall clock reaches 02:30.
    start = datetime(2024, 10, 27, 2, 10, tzinfo=PARIS, fold=1)
    for entry in both("30 2 * * *", "Europe/Paris", start):
        for minutes in (0, 1, 19):
            now = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(PARIS)
            entry.nowfun = at(now)
            assert entry.is_due(now) == (True, 0)  # last run just now, and due again
        now = (start.astimezone(UTC) + timedelta(minutes=20)).astimezone(PARIS)
        entry.nowfun = at(now)
        assert entry.is_due(now) == (False, 86400.0)  # 02:30 second pass: tomorrow
