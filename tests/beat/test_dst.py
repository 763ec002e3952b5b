"""A scheduler ticking through DST nights (Europe/Paris, America/New_York): no run doubled or lost."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from celery_compat.beat.models import BeatRun
from celery_compat.beat.scheduler import DatabaseScheduler
from celery_compat.schedules import crontab
from tests.beat.conftest import UTC

pytestmark = pytest.mark.django_db(transaction=True)

NIGHTS = [  # zone, local start of the night, hours of wall clock it spans (from 00:00 to 04:00 local)
    ("Europe/Paris", dt.datetime(2024, 10, 27), 5),  # 02:00-03:00 repeated: 5 elapsed hours
    ("Europe/Paris", dt.datetime(2024, 3, 31), 3),  # 02:00-03:00 skipped: 3 elapsed hours
    ("America/New_York", dt.datetime(2024, 11, 3), 5),  # 01:00-02:00 repeated
    ("America/New_York", dt.datetime(2024, 3, 10), 3),  # 02:00-03:00 skipped
]


@pytest.mark.parametrize("zone,night,elapsed_hours", NIGHTS, ids=[f"{z}-{n.date()}" for z, n, _ in NIGHTS])
def test_scheduler_through_a_dst_night(app, clock, zone, night, elapsed_hours):
    tz = ZoneInfo(zone)
    app.conf.timezone = zone
    app.conf.beat_schedule = {
        "quarter": {"task": "proj.q", "schedule": crontab(minute="*/15")},
        "daily-0230": {"task": "proj.d", "schedule": crontab(minute=30, hour=2)},
        "daily-0130": {"task": "proj.d", "schedule": crontab(minute=30, hour=1)},
        "hourly-interval": {"task": "proj.h", "schedule": 3600},
    }
    start = night.replace(tzinfo=tz).astimezone(UTC)
    end = (night + dt.timedelta(hours=4)).replace(tzinfo=tz).astimezone(UTC)
    assert (end - start) == dt.timedelta(hours=elapsed_hours)
    clock.set(start - dt.timedelta(seconds=1))
    scheduler = DatabaseScheduler(app, hostname="dst", now=clock)
    scheduler.setup()
    while clock.current < end:
        scheduler.tick()
        clock.advance(seconds=60)

    def runs(name: str) -> list[dt.datetime]:
        return list(BeatRun.objects.filter(name=name).order_by("due_at").values_list("due_at", flat=True))

    quarter = runs("quarter")
    assert len(quarter) == elapsed_hours * 4  # every 15 elapsed minutes: none doubled, none lost
    assert {b - a for a, b in zip(quarter, quarter[1:])} == {dt.timedelta(minutes=15)}
    assert len(runs("daily-0230")) == 1  # skipped hour: once when clocks jump; repeated hour: once
    assert len(runs("daily-0130")) == 1
    hourly = runs("hourly-interval")
    assert len(hourly) == elapsed_hours and {b - a for a, b in zip(hourly, hourly[1:])} == {dt.timedelta(hours=1)}
