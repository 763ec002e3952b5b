"""Claims: one run, many schedulers racing for it; a failed publish leaves the run unclaimed."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connections

from celery_compat.beat.claims import claim_and_send, load_states
from celery_compat.beat.models import BeatEntryState, BeatRun
from tests.beat.conftest import UTC, sent_messages

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 6
RUNS = 15


def test_racing_schedulers_claim_each_run_once(app):
    due_instants = [dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i) for i in range(RUNS)]
    barrier = threading.Barrier(THREADS)
    wins: list[tuple[int, dt.datetime]] = []
    errors: list[BaseException] = []

    def scheduler(n: int) -> None:
        try:
            for due in due_instants:
                barrier.wait(timeout=60)  # all threads claim the same run at once
                if claim_and_send("race", "proj.race", due, f"s{n}",
                                  lambda task_id: app.send_task("proj.race", task_id=task_id)):
                    wins.append((n, due))
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sorted(due for _, due in wins) == due_instants
    assert BeatRun.objects.count() == RUNS
    assert len(sent_messages()) == RUNS
    assert sorted(sent["id"] for sent in sent_messages()) == sorted(BeatRun.objects.values_list("task_id", flat=True))


def test_a_failed_publish_leaves_the_run_unclaimed(app):
    load_states(["x"], dt.datetime(2026, 1, 1, tzinfo=UTC))
    due = dt.datetime(2026, 1, 1, 0, 1, tzinfo=UTC)

    def broken(task_id: str) -> None:
        app.send_task("proj.x", task_id=task_id)
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        claim_and_send("x", "proj.x", due, "s1", broken)
    assert not BeatRun.objects.exists() and sent_messages() == []
    assert BeatEntryState.objects.get(name="x").last_due_at is None
    assert claim_and_send("x", "proj.x", due, "s2", lambda task_id: app.send_task("proj.x", task_id=task_id))
    assert BeatEntryState.objects.get(name="x").last_due_at == due
    assert len(sent_messages()) == 1


def test_new_entry_state_is_shared(app):
    first = load_states(["n"], dt.datetime(2026, 1, 1, tzinfo=UTC))
    second = load_states(["n"], dt.datetime(2026, 1, 2, tzinfo=UTC))
    assert first == second == {"n": (dt.datetime(2026, 1, 1, tzinfo=UTC), None)}
