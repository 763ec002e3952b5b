"""Rate limits (``Task.rate_limit``): Celery's per-worker token bucket, on ``runworker``.

No assertion here depends on how fast the machine is: a rate limit only
sets a *lower* bound on when tasks may start, and that is what is checked.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import transaction

from celery_compat import Celery
from celery_compat.worker.ratelimit import RateLimiter, rate
from kombu_transport_django.models import Message
from tests.helpers.e2e import wait_until
from tests.worker.conftest import StartWorker
from tests.worker.proj.tasks import add, five_per_second, once_a_minute


def starts(path: Path) -> list[tuple[float, str]]:
    """``(wall-clock start, value)`` per line the rate-limited tasks wrote."""
    if not path.exists():
        return []
    text = path.read_text()
    return [(float(when), value) for when, value in
            (line.split() for line in text[: text.rfind("\n") + 1].splitlines())]


# -- parsing and the bucket bookkeeping ------------------------------------------


@pytest.mark.parametrize("value", ["10/s", "100/m", "1000/h", "0.5/s", "7", 5, 2.5, None, "", 0])
def test_rate_is_celerys(value: Any) -> None:
    from celery.utils.time import rate as celery_rate

    assert rate(value) == pytest.approx(celery_rate(value))


@pytest.mark.parametrize("value", ["10/x", "ten/s", "1/min", object()])
def test_a_bad_rate_names_the_value(value: Any) -> None:
    with pytest.raises(ValueError, match="Invalid rate limit .*100/m"):
        rate(value)


def test_limiter_holds_the_second_request_and_releases_it_when_the_limit_goes() -> None:
    tasks = {"t.limited": SimpleNamespace(rate_limit="1/h"), "t.free": SimpleNamespace(rate_limit=None)}
    limiter = RateLimiter(enabled=True, max_extra=1)
    limiter.reset(tasks)
    first, second, third = (SimpleNamespace(type="t.limited") for _ in range(3))

    assert limiter.hold(first) is False  # the bucket's one token
    assert limiter.hold(second) is True and limiter.hold(third) is True
    assert limiter.hold(SimpleNamespace(type="t.free")) is False
    assert limiter.raise_prefetch(second) is True and limiter.raise_prefetch(third) is False
    assert limiter.due() == [] and limiter.next_in() > 3000 and limiter.held == 2

    tasks["t.limited"].rate_limit = None
    limiter.reset(tasks)
    assert limiter.next_in() == 0.0
    assert limiter.due() == [(second, True), (third, False)]
    assert limiter.held == 0 and limiter.next_in() == float("inf")


def test_limiter_disabled_holds_nothing() -> None:
    limiter = RateLimiter(enabled=False)
    limiter.reset({"t": SimpleNamespace(rate_limit="1/h")})
    assert [limiter.hold(SimpleNamespace(type="t")) for _ in range(3)] == [False, False, False]


def test_a_task_with_a_bad_rate_limit_is_named() -> None:
    with pytest.raises(ValueError, match="Task 't.bad': Invalid rate limit '5/y'"):
        RateLimiter().reset({"t.bad": SimpleNamespace(rate_limit="5/y")})


# -- a real worker ------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_runworker_refuses_a_bad_rate_limit_in_one_line(runworker: StartWorker) -> None:
    worker = runworker("-A", "tests.worker.bad_rate_limit:app", ready=False)
    code = worker.wait_exit(60)
    output = worker.output()
    assert code == 1, output
    assert "CommandError: Task 'bad.rate_limited': Invalid rate limit '5/y'" in output, output
    assert "Traceback" not in output, output


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_five_per_second_spaces_the_starts(runworker: StartWorker, tmp_path: Path, pool: str) -> None:
    path = tmp_path / "starts"
    runworker("-P", pool, "-c", "3")
    count = 15
    published_at = time.time()
    with transaction.atomic():
        results = [five_per_second.delay(str(path), n) for n in range(count)]
    wait_until("15 rate-limited runs", lambda: len(starts(path)) >= count, 120)
    assert [r.get(timeout=30) for r in results] == list(range(count))

    rows = starts(path)
    assert sorted(value for _, value in rows) == sorted(str(n) for n in range(count))  # each ran once
    # The bucket holds one token and refills at 5/s, and no request reached
    # the worker before ``published_at``: the k-th start (k from 0) cannot
    # come before published_at + k/5, however slow or loaded the machine is.
    # (A fixed "at most 6 starts in any second" window would not be sound:
    # a task started late after its token came, the next one on time.)
    times = sorted(when for when, _ in rows)
    early = [(k, round(when - published_at, 3)) for k, when in enumerate(times)
             if when < published_at + k / 5 - 0.05]
    assert early == [], f"starts earlier than 5/s allows (k, seconds after publish): {early}"
    assert times[-1] - published_at >= (count - 1) / 5 - 0.05


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_held_request_keeps_its_lease_and_does_not_block_other_tasks(
    runworker: StartWorker, app: Celery, tmp_path: Path,
) -> None:
    path = tmp_path / "starts"
    # One message prefetched at a time; leases of 3 s, renewed every second by the
    # heartbeat (3 s, not 2: a loaded machine may delay one heartbeat a little).
    worker = runworker("-P", "solo", "--prefetch-multiplier", "1", PROJ_LEASE_SECONDS="3")
    first = once_a_minute.delay(str(path), "first")
    assert first.get(timeout=30) == "first"
    held = once_a_minute.delay(str(path), "held")

    # The held message does not take the only prefetch slot: add still runs.
    wait_until("the second call held", lambda: Message.objects.leased().filter(
        task_id=held.id).exists(), 30)
    assert add.delay(2, 2).get(timeout=30) == 4
    reserved = app.control.inspect(timeout=10, destination=[worker.hostname]).reserved()
    assert [r["id"] for r in reserved[worker.hostname]] == [held.id]

    # Held for more than two lease periods: still leased once, never redelivered.
    time.sleep(7)
    row = Message.objects.get(task_id=held.id)
    assert (row.status, row.started_at, row.delivery_count) == (Message.Status.LEASED, None, 1)
    assert [value for _, value in starts(path)] == ["first"]
    assert held.state == "PENDING"

    # Lifting the limit by remote control releases it at once.
    replies = app.control.rate_limit(once_a_minute.name, None, destination=[worker.hostname],
                                     reply=True, timeout=10)
    assert replies == [{worker.hostname: {"ok": "rate limit disabled successfully"}}]
    assert held.get(timeout=30) == "held"
    assert [value for _, value in starts(path)] == ["first", "held"]
    # The row of an ended run is deleted by the worker's keeper thread, just after.
    wait_until("the held task's row deleted", lambda: not Message.objects.filter(task_id=held.id).exists(), 30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_rate_limit_command_from_our_client_and_from_real_celery(
    runworker: StartWorker, app: Celery, real_celery: Any, tmp_path: Path,
) -> None:
    path = tmp_path / "starts"
    worker = runworker("-P", "threads", "-c", "2")
    dest = [worker.hostname]

    replies = app.control.rate_limit(add.name, "1/h", destination=dest, reply=True, timeout=10)
    assert replies == [{worker.hostname: {"ok": "new rate limit set successfully"}}]
    registered = app.control.inspect(timeout=10, destination=dest).registered("rate_limit")
    assert f"{add.name} [rate_limit=1/h]" in registered[worker.hostname]
    first, second = add.delay(1, 1), add.delay(2, 2)
    assert first.get(timeout=30) == 2
    wait_until("the second add held", lambda: Message.objects.leased().filter(
        task_id=second.id).exists(), 30)
    assert second.state == "PENDING"

    with real_celery.connection_for_write() as conn:
        bad = real_celery.control.rate_limit(add.name, "3/fortnight", destination=dest, reply=True,
                                             timeout=2, connection=conn)
        unknown = real_celery.control.rate_limit("no.such.task", "1/s", destination=dest, reply=True,
                                                 timeout=2, connection=conn)
        lifted = real_celery.control.rate_limit(add.name, 0, destination=dest, reply=True, timeout=2,
                                                connection=conn)
    assert "Invalid rate limit string" in bad[0][worker.hostname]["error"]
    assert unknown == [{worker.hostname: {"error": "unknown task"}}]
    assert lifted == [{worker.hostname: {"ok": "rate limit disabled successfully"}}]
    assert second.get(timeout=30) == 4

    # And the other way round: a limit set by real Celery's client holds a task back.
    with real_celery.connection_for_write() as conn:
        real_celery.control.rate_limit(five_per_second.name, "1/h", destination=dest, reply=True,
                                       timeout=2, connection=conn)
    runs = [five_per_second.delay(str(path), n) for n in range(2)]
    assert runs[0].get(timeout=30) == 0
    assert add.delay(3, 3).get(timeout=30) == 6  # other tasks are not held back
    assert runs[1].state == "PENDING" and [v for _, v in starts(path)] == ["0"]

    # A held request that is revoked never runs, even once the limit goes.
    runs[1].revoke()
    assert runs[1].state == "REVOKED"
    app.control.rate_limit(five_per_second.name, None, destination=dest, reply=True, timeout=10)
    wait_until("the revoked request discarded", lambda: "Discarding revoked task" in worker.output(), 30)
    assert add.delay(4, 4).get(timeout=30) == 8
    assert [v for _, v in starts(path)] == ["0"]
    assert not Message.objects.filter(task_id=runs[1].id).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_worker_disable_rate_limits_runs_everything_at_once(runworker: StartWorker, tmp_path: Path) -> None:
    path = tmp_path / "starts"
    runworker("-P", "threads", "-c", "2", PROJ_DISABLE_RATE_LIMITS="1")
    results = [once_a_minute.delay(str(path), n) for n in range(3)]
    # Rate-limited, the second would wait a minute.
    assert [r.get(timeout=30) for r in results] == [0, 1, 2]
