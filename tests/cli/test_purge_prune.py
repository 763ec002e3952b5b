"""``manage.py celery_compat purge`` and ``prune`` on the test database."""

from __future__ import annotations

import datetime as dt
import io
import sys
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from celery_compat import Celery
from celery_compat.cli.durations import humanize, parse_age
from celery_compat.models import ChordCounter, GroupResult, TaskResult, Worker
from kombu_transport_django.models import Message
from tests.worker.proj.tasks import add

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("celery_compat", *args, stdout=out)
    return out.getvalue()


def waiting(queue: str) -> int:
    return Message.objects.filter(queue=queue).count()


# -- purge --------------------------------------------------------------------------------

def test_purge_forced_named_queues(app: Celery) -> None:
    for n in range(3):
        add.apply_async((n, n), queue="q1")
    add.apply_async((1, 1), queue="q2")
    add.delay(1, 1)

    assert run("purge", "-f", "-Q", "q1,q2", "-X", "q2") == "Purged 3 messages from 1 known task queue.\n"
    assert (waiting("q1"), waiting("q2"), waiting("celery")) == (0, 1, 1)
    assert run("purge", "-f", "-Q", "q1") == "No messages purged from 1 queue.\n"
    # Default: the app's known queues, as Celery's app.amqp.queues: celery,
    # and q1 and q2, which publishing added (task_create_missing_queues).
    assert run("purge", "-f") == "Purged 2 messages from 3 known task queues.\n"
    assert Message.objects.count() == 0


def test_purge_keeps_leased_and_dead_messages(app: Celery) -> None:
    for n in range(3):
        add.delay(n, n)
    first, second, _ = Message.objects.order_by("id")
    Message.objects.filter(pk=first.pk).update(status=Message.Status.LEASED, lease_owner="x",
                                               leased_until=timezone.now())
    Message.objects.filter(pk=second.pk).update(status=Message.Status.DEAD, dead_reason="test")
    assert run("purge", "-f") == "Purged 1 message from 1 known task queue.\n"
    assert waiting("celery") == 2


def test_purge_asks_first(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    add.apply_async((1, 1), queue="q1")

    def answering(answer: str | None) -> str:
        # input() reads sys.stdin: a person typing, or nobody (EOF).
        monkeypatch.setattr(sys, "stdin", io.StringIO("" if answer is None else f"{answer}\n"))
        return run("purge", "-Q", "q1")

    with pytest.raises(CommandError, match="Aborted!"):
        answering("n")
    with pytest.raises(CommandError, match="Aborted!"):
        answering(None)  # no terminal, no answer: no
    assert waiting("q1") == 1

    out = answering("y")
    assert out.startswith("WARNING: This will remove all tasks from 1 queue: q1.\n")
    assert "(to skip this prompt use the -f option)" in out
    assert out.endswith("Purged 1 message from 1 known task queue.\n")
    assert waiting("q1") == 0


# -- prune ----------------------------------------------------------------------------------

def _results(count: int, age: dt.timedelta) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    TaskResult.objects.bulk_create(
        [TaskResult(task_id=i, status="SUCCESS", content_type="application/json", content_encoding="utf-8")
         for i in ids])
    TaskResult.objects.filter(task_id__in=ids).update(date_done=timezone.now() - age)
    return ids


def _dead(count: int, age: dt.timedelta) -> None:
    for n in range(count):
        add.apply_async((n, n), queue="dead-letters")
    Message.objects.filter(queue="dead-letters", status=Message.Status.READY).update(
        status=Message.Status.DEAD, dead_reason="test", created_at=timezone.now() - age)


def test_prune_results_and_dead_messages_in_batches(app: Celery) -> None:
    old = _results(7, dt.timedelta(days=3))
    new = _results(2, dt.timedelta(hours=1))
    GroupResult.objects.create(group_id="old-group", content_type="application/json", content_encoding="utf-8")
    GroupResult.objects.filter(group_id="old-group").update(date_done=timezone.now() - dt.timedelta(days=3))
    ChordCounter.objects.create(group_id="old-chord", sub_tasks="[]", count=1,
                                date_created=timezone.now() - dt.timedelta(days=3))
    _dead(5, dt.timedelta(days=10))
    _dead(1, dt.timedelta(days=1))
    add.delay(1, 1)  # waiting, not dead: never pruned

    now = timezone.now()
    for n, age in enumerate([dt.timedelta(days=9), dt.timedelta(days=8), dt.timedelta(seconds=5)]):
        Worker.objects.create(hostname=f"w{n}@host", pid=n + 1, pool="prefork", concurrency=2,
                              started_at=now - age, heartbeat_at=now - age)

    dry = run("prune", "--results", "2d", "--dead", "7d", "--dry-run")
    assert dry == ("Would delete 7 task results, 1 group results and 1 chord counters older than 2d00h.\n"
                   "Would delete 5 dead messages older than 7d00h.\n"
                   "Would delete 2 workers not heard from for 7d00h.\n")
    assert TaskResult.objects.count() == 9 and Message.objects.dead().count() == 6 and Worker.objects.count() == 3

    done = run("prune", "--results", "2d", "--dead", "7d", "--batch-size", "2")
    assert done == ("Deleted 7 task results, 1 group results and 1 chord counters older than 2d00h.\n"
                    "Deleted 5 dead messages older than 7d00h.\n"
                    "Deleted 2 workers not heard from for 7d00h.\n")
    assert list(Worker.objects.values_list("hostname", flat=True)) == ["w2@host"]  # heard from 5 s ago
    assert sorted(TaskResult.objects.values_list("task_id", flat=True)) == sorted(new)
    assert not TaskResult.objects.filter(task_id__in=old).exists()
    assert not GroupResult.objects.exists() and not ChordCounter.objects.exists()
    assert Message.objects.dead().count() == 1
    assert waiting("celery") == 1


def test_prune_defaults_and_choices(app: Celery) -> None:
    _results(2, dt.timedelta(days=2))  # result_expires is one day
    _dead(1, dt.timedelta(days=8))  # default --dead is 7d
    assert run("prune", "--no-dead", "--no-workers") == (
        "Deleted 2 task results, 0 group results and 0 chord counters older than 1d00h.\n")
    assert run("prune", "--no-results", "--no-workers") == "Deleted 1 dead messages older than 7d00h.\n"
    assert run("prune", "--no-results", "--no-dead", "--workers", "1h") == (
        "Deleted 0 workers not heard from for 1h00m.\n")
    with pytest.raises(CommandError, match="--batch-size"):
        run("prune", "--batch-size", "0")
    with pytest.raises(CommandError, match="'soon' is not an age"):
        run("prune", "--results", "soon")


def test_ages() -> None:
    assert parse_age("90") == dt.timedelta(seconds=90)
    assert parse_age("30m") == dt.timedelta(minutes=30)
    assert parse_age("1.5h") == dt.timedelta(minutes=90)
    assert parse_age("2W") == dt.timedelta(days=14)
    with pytest.raises(ValueError, match="'7 days' is not an age"):
        parse_age("7 days")
    assert [humanize(s) for s in (3.25, 42, 252, 7500, 90000, None)] == ["3.2s", "42s", "4m12s", "2h05m", "1d01h", "-"]
