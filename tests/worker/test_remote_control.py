"""Remote control of a ``runworker`` process from this one, with our client and Celery's.

Also the interop promise for producers: a task published by real Celery runs
on ``runworker`` and its result reads through ``celery_compat``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from celery_compat import Celery, states
from celery_compat.exceptions import TaskRevokedError
from celery_compat.models import Revoke
from tests.helpers.e2e import wait_until
from tests.worker.conftest import StartWorker
from tests.worker.proj.tasks import add, mark, request_fields, sleep_then_mark

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_inspect_from_another_process(runworker: StartWorker, app: Celery, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    worker = runworker("-P", "threads", "-c", "1")
    inspect = app.control.inspect(timeout=10, destination=[worker.hostname])

    assert inspect.ping() == {worker.hostname: {"ok": "pong"}}
    running = sleep_then_mark.delay(1.5, str(path), "running")
    waiting = add.delay(1, 1)
    wait_until("the task to start", lambda: lines(path), 20)
    active = inspect.active()[worker.hostname]
    assert [(t["id"], t["name"], t["args"]) for t in active] == [
        (running.id, sleep_then_mark.name, [1.5, str(path), "running"])
    ]
    assert active[0]["acknowledged"] is True and active[0]["hostname"] == worker.hostname
    assert [t["id"] for t in inspect.reserved()[worker.hostname]] == [waiting.id]
    assert inspect.scheduled() == {worker.hostname: []}
    assert add.name in inspect.registered()[worker.hostname]
    assert [q["name"] for q in inspect.active_queues()[worker.hostname]] == ["celery"]
    assert waiting.get(timeout=20) == 2
    stats = inspect.stats()[worker.hostname]
    assert stats["pid"] == worker.pid
    assert stats["total"] == {sleep_then_mark.name: 1, add.name: 1}


def test_real_celery_client_pings_and_revokes(runworker: StartWorker, app: Celery, real_celery: Any, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    worker = runworker("-P", "solo")
    # Connections of our own, closed after: Celery's pooled ones would keep
    # the reply consumer (and its heartbeat thread) alive past the test.
    with real_celery.connection_for_write() as conn:
        pong = real_celery.control.inspect(timeout=10, destination=[worker.hostname], connection=conn).ping()
    assert pong == {worker.hostname: {"ok": "pong"}}
    result = mark.apply_async((str(path), "revoked"), countdown=1.5)

    with real_celery.connection_for_write() as conn:
        replies = real_celery.control.revoke(
            result.id, destination=[worker.hostname], reply=True, timeout=10, connection=conn,
        )

    assert replies == [{worker.hostname: {"ok": f"tasks {{'{result.id}'}} flagged as revoked"}}]
    # Celery's client stores nothing: REVOKED comes from our worker, at once.
    assert app.backend.get_task_meta(result.id, cache=False)["status"] == states.REVOKED
    revoked = app.control.inspect(timeout=10, destination=[worker.hostname]).revoked()
    assert result.id in revoked[worker.hostname]
    # ... and persisted, for workers started later.
    assert Revoke.objects.filter(task_id=result.id).exists()
    # When the countdown is over the message arrives and is discarded.
    assert add.delay(1, 1).get(timeout=20) == 2
    wait_until("the revoked message consumed", lambda: "Discarding revoked task" in worker.output(), 20)
    assert not path.exists()
    with pytest.raises(TaskRevokedError, match="revoked"):
        app.AsyncResult(result.id).get(timeout=1)


def test_real_celery_producer_runs_on_runworker(runworker: StartWorker, app: Celery, real_celery: Any) -> None:
    runworker("-P", "prefork", "-c", "1")

    sent = real_celery.send_task(add.name, (2, 3))
    assert app.AsyncResult(sent.id).get(timeout=20) == 5

    eta = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=0.5)
    sent = real_celery.send_task(
        request_fields.name, eta=eta, headers={"custom": "h"}, shadow="shown", expires=60,
    )
    fields = app.AsyncResult(sent.id).get(timeout=20)
    assert fields["id"] == sent.id and fields["root_id"] == sent.id
    assert dt.datetime.fromisoformat(fields["eta"]) == eta
    assert fields["headers"] == {"custom": "h"} and fields["custom"] == "h"
    assert fields["shadow"] == "shown"
    assert fields["origin"].startswith("gen")
    assert fields["delivery_info"]["routing_key"] == "celery"
