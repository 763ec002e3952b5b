"""Malformed input never crashes the worker, is kept with its reason, and good work goes on.

Property-based (hypothesis): random rows in the queue table and random
kombu messages (content types, encodings, bodies, headers) are interleaved
with good task messages in one queue, then a real worker
(:func:`celery_compat.testing.drain`: the WorkController with the solo
pool, in this process) consumes the queue. Examples per property:
``FUZZ_EXAMPLES`` (default 25).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celery_compat import Celery
from celery_compat.models import TaskResult
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.chaos.harness import ledger_counts
from tests.fuzz.messages import QUEUE, Bad, bad_messages, pickle_task_message, put

pytestmark = pytest.mark.django_db(transaction=True)

settings.load_profile("fuzz")
_examples = itertools.count()
fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _reset() -> None:
    Message.objects.all().delete()
    TaskResult.objects.all().delete()


def fate(task_id: str) -> str | None:
    """How a bad message with ``task_id`` ended: its dead reason or result state."""
    dead = Message.objects.dead().filter(task_id=task_id).values_list("dead_reason", flat=True).first()
    if dead:
        return f"dead: {dead}"
    state = TaskResult.objects.filter(task_id=task_id).values_list("status", flat=True).first()
    return state


@fixtures_ok
@given(bads=st.lists(bad_messages, min_size=1, max_size=6))
def test_bad_messages_are_kept_and_good_ones_run(app: Celery, tmp_path: Path, bads: list[Bad]) -> None:
    _reset()
    ledger = tmp_path / f"ledger-{next(_examples)}"
    goods: list[str] = []
    for n, bad in enumerate(bads):
        good_id = f"good-{n}"
        app.send_task("fuzz.good", (str(ledger),), task_id=good_id)
        goods.append(good_id)
        put(app, bad, f"bad-{n}")
    app.send_task("fuzz.good", (str(ledger),), task_id="good-last")
    goods.append("good-last")

    drain(app, queues=[QUEUE], timeout=120)

    # Every good message ran exactly once, whatever was around it.
    assert ledger_counts(ledger) == {g: 1 for g in goods}
    # Nothing is left waiting or leased: each bad message reached an end.
    assert not Message.objects.exclude(status=Message.Status.DEAD).exists()
    anonymous = 0
    for n, bad in enumerate(bads):
        has_id = bad.row is None and (bad.headers or {}).get("id") == "ID"
        if has_id:
            # Kept as dead with a reason, or recorded as a result (FAILURE
            # NotRegistered/TypeError..., or SUCCESS if it happened to be valid).
            assert fate(f"bad-{n}"), f"bad message {n} vanished: {bad}"
        else:
            anonymous += 1
    dead_without_id = Message.objects.dead().filter(task_id="")
    assert dead_without_id.count() == anonymous
    assert all(reason for reason in Message.objects.dead().values_list("dead_reason", flat=True))


def test_pickle_is_never_loaded_when_not_accepted(app: Celery, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    ledger = tmp_path / "ledger"
    put(app, pickle_task_message(app, "pickled-1", str(marker)), "pickled-1")
    app.send_task("fuzz.good", (str(ledger),), task_id="after-pickle")

    drain(app, queues=[QUEUE], timeout=60)

    assert not marker.exists(), "the worker unpickled a message although pickle is not accepted"
    assert ledger_counts(ledger) == {"after-pickle": 1}
    reason = Message.objects.dead().get(task_id="pickled-1").dead_reason
    assert "application/x-python-serialize" in reason and "accept_content" in reason
    assert not TaskResult.objects.filter(task_id="pickled-1").exists()


def test_unknown_task_and_wrong_argument_count_fail_visibly(app: Celery, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    app.send_task("no.such.task", (1,), task_id="unknown-1")
    app.send_task("fuzz.strict", (1, 2, 3), task_id="too-many")
    app.send_task("fuzz.strict", (), task_id="too-few")
    app.send_task("fuzz.good", (str(ledger),), task_id="good-1")

    drain(app, queues=[QUEUE], timeout=60)

    assert ledger_counts(ledger) == {"good-1": 1}
    # Kept as dead (the reason there is the worker's reject), and the result
    # says why: NotRegistered, as Celery records it.
    assert Message.objects.dead().filter(task_id="unknown-1", task_name="no.such.task").exists()
    unknown = app.AsyncResult("unknown-1")
    assert unknown.state == "FAILURE" and type(unknown.result).__name__ == "NotRegistered"
    for task_id in ("too-many", "too-few"):
        result = app.AsyncResult(task_id)
        assert result.state == "FAILURE" and isinstance(result.result, TypeError), (task_id, result.result)


def test_a_nul_byte_in_the_task_name_or_id_is_kept_with_its_reason(app: Celery, tmp_path: Path) -> None:
    """PostgreSQL text cannot hold NUL: publishing failed with a bare DataError, and a message carrying one
    (from another publisher) crashed the worker storing its result. Now it is published, kept as dead with
    the reason, and the next message runs, on every database."""
    ledger = tmp_path / "ledger"
    app.send_task("no\x00such.task", (1,), task_id="nul\x00id")
    app.send_task("fuzz.good", (str(ledger),), task_id="good-after-nul")

    drain(app, queues=[QUEUE], timeout=60)

    assert ledger_counts(ledger) == {"good-after-nul": 1}
    row = Message.objects.dead().get(task_id="nul\ufffdid")
    assert row.task_name == "no\ufffdsuch.task"
    assert "NUL byte" in row.dead_reason and "'id' header" in row.dead_reason, row.dead_reason
