"""DatabaseScheduler on a controlled clock: due runs, missed runs, several schedulers, database entries."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from celery_compat.beat.models import BeatEntryState, BeatRun, IntervalSchedule, PeriodicTask
from celery_compat.beat.scheduler import DatabaseScheduler
from celery_compat.exceptions import ImproperlyConfigured
from celery_compat.schedules import crontab, schedule
from tests.beat.conftest import UTC, sent_messages

pytestmark = pytest.mark.django_db(transaction=True)


def real_time(clock) -> None:
    """Database rows carry real timestamps (date_changed): run the clock just after them."""
    clock.set(dt.datetime.now(UTC).replace(microsecond=0) + dt.timedelta(minutes=1))


def scheduler(app, clock, name="s1", **beat_schedule) -> DatabaseScheduler:
    app.conf.beat_schedule = beat_schedule
    sched = DatabaseScheduler(app, hostname=name, now=clock)
    sched.setup()
    return sched


def runs(name: str) -> list[dt.datetime]:
    return list(BeatRun.objects.filter(name=name).order_by("due_at").values_list("due_at", flat=True))


def test_interval_counts_from_first_sight_and_sends_the_entry(app, clock):
    start = clock.current
    s = scheduler(app, clock, every10={"task": "proj.add", "schedule": 10, "args": (1, 2),
                                       "kwargs": {"z": 3}, "options": {"queue": "beat-q", "priority": 5}})
    s.tick()
    assert runs("every10") == []  # as Celery: first run one interval after start
    clock.advance(seconds=10)
    s.tick()
    assert runs("every10") == [start + dt.timedelta(seconds=10)]
    [headers] = sent_messages()
    assert headers["task"] == "proj.add"
    assert headers["periodic_task_name"] == "every10"
    from kombu_transport_django.models import Message

    message = Message.objects.get()
    assert message.queue == "beat-q"
    assert message.priority == 5
    body = json.loads(message.payload)
    assert headers["id"] == BeatRun.objects.get().task_id
    assert body["body"]  # the encoded (args, kwargs, embed) triple
    state = BeatEntryState.objects.get(name="every10")
    assert (state.total_run_count, state.last_due_at) == (1, start + dt.timedelta(seconds=10))


def test_crontab_fires_on_the_minute_and_sleep_targets_the_next(app, clock):
    clock.set(dt.datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC))
    s = scheduler(app, clock, minutely={"task": "proj.tick", "schedule": crontab()})
    wait = s.tick()
    assert 0 < wait <= 5
    clock.set(dt.datetime(2026, 1, 5, 12, 1, 0, 200000, tzinfo=UTC))
    s.tick()
    assert runs("minutely") == [dt.datetime(2026, 1, 5, 12, 1, tzinfo=UTC)]


def test_three_schedulers_fire_each_run_once(app, clock):
    entries = {"sec": {"task": "proj.a", "schedule": 1.0}, "min": {"task": "proj.b", "schedule": crontab()}}
    schedulers = [scheduler(app, clock, f"s{i}", **entries) for i in range(3)]
    start = clock.current
    for step in range(130):
        clock.advance(seconds=0.5)
        schedulers[step % 3].tick()
        if step % 7 == 0:
            schedulers[(step + 1) % 3].tick()
    sec = runs("sec")
    assert sec == [start + dt.timedelta(seconds=k) for k in range(1, len(sec) + 1)]
    assert len(sec) == 65
    assert runs("min") == [dt.datetime(2026, 1, 5, 12, 1, tzinfo=UTC)]
    assert len(sent_messages()) == 66
    assert {r.hostname for r in BeatRun.objects.all()} == {"s0", "s1", "s2"}


def test_a_lagging_scheduler_catches_up_without_doubles(app, clock):
    entries = {"sec": {"task": "proj.a", "schedule": 1.0}}
    a = scheduler(app, clock, "a", **entries)
    b = scheduler(app, clock, "b", **entries)
    start = clock.current
    clock.advance(seconds=4.5)
    b.tick()  # b is late: fires 1..4 one by one (all due since it started)
    a.tick()  # a finds them claimed
    clock.advance(seconds=1)
    a.tick()
    assert runs("sec") == [start + dt.timedelta(seconds=k) for k in range(1, 6)]
    assert len(sent_messages()) == 5


def test_runs_missed_while_down_fire_once(app, clock):
    entries = {"sec": {"task": "proj.a", "schedule": 1.0}, "min": {"task": "proj.b", "schedule": crontab()}}
    s = scheduler(app, clock, **entries)
    clock.advance(seconds=61)
    s.tick()
    before = len(runs("sec"))
    assert runs("min") == [dt.datetime(2026, 1, 5, 12, 1, tzinfo=UTC)]
    # Everything down for an hour and a half: on start each entry fires once.
    clock.advance(minutes=90)
    again = scheduler(app, clock, "restarted", **entries)
    again.tick()
    assert len(runs("sec")) == before + 1
    assert runs("min")[-1] == dt.datetime(2026, 1, 5, 13, 31, tzinfo=UTC)
    assert len(runs("min")) == 2
    assert runs("sec")[-1] <= clock.current
    again.tick()
    assert len(runs("sec")) == before + 1


def test_database_entry_and_admin_style_changes(app, clock):
    real_time(clock)
    s = scheduler(app, clock)
    assert set(s.entries) == {"celery.backend_cleanup"}  # Celery's default entry only
    interval = IntervalSchedule.objects.create(every=2, period="seconds")
    row = PeriodicTask.objects.create(name="db-every-2", task="proj.db", interval=interval,
                                      args='[1]', kwargs='{"x": 2}', queue="dbq", expire_seconds=30)
    s._next_sync = 0  # the next tick checks the marker now
    s.tick()
    assert "db-every-2" in s.entries
    clock.advance(seconds=2)
    s._next_sync = 0
    s.tick()
    assert len(runs("db-every-2")) == 1
    row.refresh_from_db()
    assert row.total_run_count == 1 and row.last_run_at is not None
    [headers] = sent_messages()
    assert headers["periodic_task_name"] == "db-every-2" and headers["expires"]
    row.enabled = False
    row.save()
    s._next_sync = 0
    s.tick()
    assert "db-every-2" not in s.entries


def test_one_off_clocked_runs_once_even_if_its_time_has_passed(app, clock):
    real_time(clock)
    from celery_compat.beat import schedule_task

    s = scheduler(app, clock)
    schedule_task("once", "proj.once", clocked=clock.current - dt.timedelta(minutes=5))
    s._next_sync = 0
    s.tick()
    assert len(runs("once")) == 1
    assert PeriodicTask.objects.get(name="once").enabled is False
    clock.advance(seconds=5)
    s._next_sync = 0
    s.tick()
    assert len(runs("once")) == 1


def test_start_time_and_expires(app, clock):
    real_time(clock)
    from celery_compat.beat import schedule_task

    s = scheduler(app, clock)
    start = clock.current + dt.timedelta(seconds=30)
    schedule_task("later", "proj.later", every=10, start_time=start)
    schedule_task("ended", "proj.ended", every=1, expires=clock.current + dt.timedelta(seconds=3))
    s._next_sync = 0
    s.tick()
    clock.advance(seconds=29)
    s.tick()
    assert runs("later") == []
    clock.advance(seconds=1)
    s.tick()
    assert runs("later") == [start]
    # runs due since the scheduler started are caught up one by one, none after expires
    assert runs("ended") == [start - dt.timedelta(seconds=30 - k) for k in (1, 2, 3)]


def test_bad_settings_entries_fail_clearly(app, clock):
    with pytest.raises(ImproperlyConfigured, match=r"beat_schedule\['x'\].*'task'"):
        scheduler(app, clock, x={"schedule": 3})
    with pytest.raises(ImproperlyConfigured, match=r"beat_schedule\['y'\].*unknown keys \['shedule'\]"):
        scheduler(app, clock, y={"task": "t", "shedule": 3})
    with pytest.raises(ImproperlyConfigured, match="positive period"):
        scheduler(app, clock, z={"task": "t", "schedule": 0})


def test_timedelta_and_schedule_objects_and_add_periodic_task(app, clock):
    app.add_periodic_task(3.0, app.signature("proj.added", args=(1,)), name="added")
    table = dict(app.conf.beat_schedule)
    table["td"] = {"task": "proj.td", "schedule": dt.timedelta(seconds=3)}
    table["obj"] = {"task": "proj.obj", "schedule": schedule(dt.timedelta(seconds=3))}
    s = scheduler(app, clock, **table)
    clock.advance(seconds=3)
    s.tick()
    assert {r.name for r in BeatRun.objects.all()} == {"added", "td", "obj"}


def test_old_claims_are_deleted_in_batches(app, clock):
    from celery_compat.beat.claims import delete_old_runs

    old = dt.datetime(2020, 1, 1, tzinfo=UTC)
    BeatRun.objects.bulk_create([
        BeatRun(name="x", due_at=old + dt.timedelta(seconds=i), claimed_at=old) for i in range(25)
    ] + [BeatRun(name="x", due_at=clock.current, claimed_at=dt.datetime.now(UTC))])
    assert delete_old_runs(dt.timedelta(days=1), batch_size=10) == 25
    assert BeatRun.objects.count() == 1


def test_beat_cron_starting_deadline_skips_a_crontab_run_missed_long_ago(app, clock):
    entries = {"min": {"task": "proj.b", "schedule": crontab()}, "sec": {"task": "proj.a", "schedule": 1.0}}
    s = scheduler(app, clock, **entries)
    clock.advance(seconds=61)
    s.tick()
    app.conf.beat_cron_starting_deadline = 30
    clock.advance(minutes=10, seconds=40)  # down; the latest crontab run is 40 s old on restart
    again = scheduler(app, clock, "restarted", **entries)
    again.tick()
    assert runs("min") == [dt.datetime(2026, 1, 5, 12, 1, tzinfo=UTC)]
    assert len(runs("sec")) == 62  # intervals are not affected (as in Celery)
    clock.advance(seconds=20)
    again.tick()
    assert runs("min")[-1] == dt.datetime(2026, 1, 5, 12, 12, tzinfo=UTC)


def test_a_recreated_database_task_starts_fresh(app, clock):
    real_time(clock)
    from celery_compat.beat import schedule_task

    s = scheduler(app, clock)
    schedule_task("daily", "proj.daily", every=60)
    s._next_sync = 0
    s.tick()
    clock.advance(seconds=60)
    s.tick()
    assert len(runs("daily")) == 1
    PeriodicTask.objects.get(name="daily").delete()
    assert not BeatEntryState.objects.filter(name="daily").exists()
    clock.advance(minutes=30)
    schedule_task("daily", "proj.daily", every=60)
    s._next_sync = 0
    s.tick()  # not "missed while down": a new task, first run one interval after it appears
    assert len(runs("daily")) == 1
    clock.advance(seconds=60)
    s._next_sync = 0
    s.tick()
    assert len(runs("daily")) == 2


def test_celerys_default_backend_cleanup_entry(app, clock):
    clock.set(dt.datetime(2026, 1, 5, 3, 59, 59, tzinfo=UTC))
    s = scheduler(app, clock)
    assert str(s.entries["celery.backend_cleanup"].slots.cron) == str(crontab("0", "4", "*"))
    clock.advance(seconds=2)
    s.tick()
    [headers] = sent_messages()
    assert headers["task"] == "celery.backend_cleanup" and headers["expires"]
    app.conf.result_expires = None
    assert "celery.backend_cleanup" not in scheduler(app, clock, "s2").entries


def test_an_entry_that_cannot_be_sent_is_logged_and_skipped_others_go_on(app, clock, caplog):
    s = scheduler(app, clock, bad={"task": "proj.bad", "schedule": 1.0, "options": {"countdown": "soon"}},
                  good={"task": "proj.good", "schedule": 1.0})
    clock.advance(seconds=2)
    s.tick()
    assert len(runs("good")) == 2
    assert runs("bad") == []  # the claim rolled back with the failed publish
    assert "Message Error: cannot send bad (proj.bad)" in caplog.text
    clock.advance(seconds=1)
    s.tick()
    assert len(runs("good")) == 3


def test_a_broker_that_cannot_be_reached_skips_nothing(app, clock, monkeypatch):
    """The database (our broker) is unreachable at publish: the tick fails and the run fires at the next one.

    The fault is injected at send() (a lost connection cannot be timed to
    that instant): it raises what publish raises then, kombu's
    OperationalError with the driver's error as its cause, as Celery does.
    """
    from django.db import OperationalError as DBOperationalError
    from kombu.exceptions import OperationalError

    s = scheduler(app, clock, every={"task": "proj.every", "schedule": 1.0})
    clock.advance(seconds=1)
    real_send = DatabaseScheduler.send

    def unreachable(self, *args, **kwargs):
        raise OperationalError("connection lost") from DBOperationalError("server closed the connection")

    monkeypatch.setattr(DatabaseScheduler, "send", unreachable)
    with pytest.raises(OperationalError):
        s.tick()
    assert runs("every") == []
    monkeypatch.setattr(DatabaseScheduler, "send", real_send)
    s.tick()
    assert len(runs("every")) == 1
