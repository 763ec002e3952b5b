"""The worker in this process (``testing.drain``): messages in, results and acks out.

Every test claims and acks rows, which commits: no wrapping transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Producer

from celery_compat import Celery, signals, states
from celery_compat.exceptions import NotRegistered, TaskRevokedError
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.worker.conftest import Events
from tests.worker.proj.tasks import (
    MyErr,
    add,
    dies_once,
    echo,
    fail,
    ignored,
    late_mark,
    mark,
    rejected,
    request_fields,
    retry_twice,
)

pytestmark = pytest.mark.django_db(transaction=True)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_drain_runs_the_task_stores_the_result_and_acks(app: Celery) -> None:
    result = add.delay(2, 3)

    assert drain(app) == 1

    assert result.get(timeout=1) == 5
    assert result.state == states.SUCCESS
    assert not Message.objects.exists()


def test_tasks_run_in_publish_order_and_drain_counts_them(app: Celery, tmp_path: Path) -> None:
    path = tmp_path / "order"
    for value in range(5):
        mark.delay(str(path), value)

    assert drain(app) == 5

    assert lines(path) == ["0", "1", "2", "3", "4"]


def test_failure_is_stored_with_the_original_exception(app: Celery) -> None:
    result = fail.delay()

    drain(app)

    assert result.state == states.FAILURE
    with pytest.raises(MyErr) as raised:
        result.get(timeout=1)
    assert raised.value.args == ("boom", 42)
    assert "MyErr" in result.traceback


def test_wrong_arguments_fail_the_task_with_type_error(app: Celery) -> None:
    # typing=False: the client does not check, the worker's call fails.
    result = add.apply_async((1,), {"z": 2}) if not add.typing else app.send_task(add.name, (1,), {"z": 2})

    drain(app)

    assert result.state == states.FAILURE
    with pytest.raises(TypeError):
        result.get(timeout=1)


def test_request_has_celerys_fields_and_custom_headers(app: Celery) -> None:
    result = request_fields.apply_async(headers={"custom": "h"}, shadow="shown-name")

    drain(app)

    fields = result.get(timeout=1)
    assert fields["id"] == result.id
    assert fields["task"] == request_fields.name
    assert fields["args"] == [] and fields["kwargs"] == {}
    assert fields["retries"] == 0
    assert fields["root_id"] == result.id and fields["parent_id"] is None
    assert fields["delivery_info"] == {
        "exchange": "", "routing_key": "celery", "priority": fields["delivery_info"]["priority"],
        "redelivered": False,
    }
    assert fields["correlation_id"] == result.id
    assert fields["hostname"].startswith("gen")
    assert fields["headers"] == {"custom": "h"}
    assert fields["custom"] == "h"
    assert fields["shadow"] == "shown-name"
    assert fields["timelimit"] == [None, None]
    assert fields["is_eager"] is False and fields["called_directly"] is False
    assert fields["ignore_result"] is False
    assert fields["argsrepr"] == "()" and fields["kwargsrepr"] == "{}"
    assert "correlation_id" in fields["properties_keys"]


def test_eta_and_expires_reach_the_request_as_iso_strings(app: Celery) -> None:
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    result = request_fields.apply_async(countdown=0.1, expires=expires)

    drain(app)

    fields = result.get(timeout=1)
    assert isinstance(fields["eta"], str) and dt.datetime.fromisoformat(fields["eta"]).tzinfo
    assert dt.datetime.fromisoformat(fields["expires"]) == expires


def test_retry_publishes_again_and_drain_waits_for_the_countdown(app: Celery, tmp_path: Path) -> None:
    path = tmp_path / "retries"
    result = retry_twice.delay(str(path))

    assert drain(app) == 3

    assert lines(path) == ["0", "1", "2"]
    assert result.get(timeout=1) == 2


def test_unregistered_task_is_rejected_and_stored_as_not_registered(app: Celery, events: Events) -> None:
    recorded = events(signals.task_unknown)
    result = app.send_task("nope.nope", (1,))

    assert drain(app) == 0

    assert result.state == states.FAILURE
    with pytest.raises(NotRegistered) as raised:
        result.get(timeout=1)
    assert "nope.nope" in repr(raised.value)
    [(name, kwargs)] = recorded
    assert kwargs["name"] == "nope.nope" and kwargs["id"] == result.id
    dead = Message.objects.get()
    assert dead.status == Message.Status.DEAD  # kept, not dropped


def test_invalid_message_is_rejected_kept_as_dead_and_signalled(app: Celery, events: Events) -> None:
    recorded = events(signals.task_rejected)
    with Connection("django://") as conn:
        Producer(conn.default_channel).publish(
            "not a task body", exchange="", routing_key="celery", serializer="json",
            headers={"task": add.name, "id": str(uuid.uuid4()), "lang": "py"},
        )

    assert drain(app) == 0

    [(name, kwargs)] = recorded
    assert "body" in str(kwargs["exc"])
    assert Message.objects.get().status == Message.Status.DEAD


def test_revoked_task_is_discarded_and_stored_revoked(app: Celery, events: Events, tmp_path: Path) -> None:
    recorded = events(signals.task_revoked)
    path = tmp_path / "ran"
    result = mark.delay(str(path), "ran")
    app.control.revoke(result.id)

    assert drain(app) == 0

    assert not path.exists()
    assert result.state == states.REVOKED
    with pytest.raises(TaskRevokedError, match="revoked"):
        result.get(timeout=1)
    [(name, kwargs)] = recorded
    assert kwargs["request"].id == result.id
    assert (kwargs["terminated"], kwargs["expired"]) == (False, False)
    assert not Message.objects.exists()


def test_expired_task_is_revoked_as_expired(app: Celery, events: Events, tmp_path: Path) -> None:
    recorded = events(signals.task_revoked)
    path = tmp_path / "ran"
    result = mark.apply_async((str(path), "ran"), expires=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))

    drain(app)

    assert not path.exists()
    assert result.state == states.REVOKED
    with pytest.raises(TaskRevokedError, match="expired"):
        result.get(timeout=1)
    assert recorded[0][1]["expired"] is True


def test_ignore_leaves_the_state_pending_and_acks(app: Celery) -> None:
    result = ignored.delay()

    drain(app)

    assert result.state == states.PENDING
    assert not Message.objects.exists()


def test_reject_without_requeue_keeps_the_message_as_dead(app: Celery) -> None:
    rejected.delay(False)

    drain(app)

    assert Message.objects.get().status == Message.Status.DEAD


def test_links_run_after_success(app: Celery) -> None:
    result = add.apply_async((2, 3), link=echo.s("linked"))

    assert drain(app) == 2

    [child_id] = [child.id for child in result.children]
    assert app.AsyncResult(child_id).get(timeout=1) == [[5, "linked"], {}]


def test_worker_signals_come_in_celerys_order(app: Celery, events: Events) -> None:
    recorded = events(
        signals.worker_init, signals.worker_ready, signals.task_received, signals.task_prerun,
        signals.task_success, signals.task_postrun, signals.worker_shutdown,
    )
    add.delay(1, 1)

    drain(app)

    assert [name for name, _ in recorded] == [
        "worker_init", "worker_ready", "task_received", "task_prerun", "task_success",
        "task_postrun", "worker_shutdown",
    ]
    received = recorded[2][1]
    assert received["request"].name == add.name


def test_drain_only_consumes_the_queues_it_is_given(app: Celery, tmp_path: Path) -> None:
    path = tmp_path / "ran"
    mark.apply_async((str(path), "other"), queue="other")
    mark.apply_async((str(path), "default"))

    assert drain(app, queues=["celery"]) == 1
    assert lines(path) == ["default"]
    assert drain(app, queues=["other"]) == 1
    assert lines(path) == ["default", "other"]


def test_drain_times_out_on_a_task_far_in_the_future(app: Celery) -> None:
    add.apply_async((1, 1), countdown=60)

    with pytest.raises(TimeoutError, match="still had messages"):
        drain(app, timeout=0.5)


def test_early_delivered_eta_is_held_until_due(app: Celery) -> None:
    # honor_eta=False: the transport delivers at once, the worker holds it.
    app.conf.broker_transport_options = {"honor_eta": False}
    published = time.time()
    result = request_fields.apply_async(countdown=0.6)

    drain(app)

    assert result.get(timeout=1)["id"] == result.id
    assert app.backend.get_task_meta(result.id)["date_done"].timestamp() - published >= 0.6


def test_acks_late_failure_without_acks_on_failure_is_rejected(app: Celery) -> None:
    fail_late = app.tasks[fail.name]
    previous = (fail_late.acks_late, fail_late.acks_on_failure)
    fail_late.acks_late, fail_late.acks_on_failure = True, False
    try:
        result = fail.delay()
        drain(app)
    finally:
        fail_late.acks_late, fail_late.acks_on_failure = previous

    assert result.state == states.FAILURE
    assert Message.objects.get().status == Message.Status.DEAD


def _noop() -> None:
    pass


def test_the_split_ack_options_fall_back_to_acks_on_failure_or_timeout_as_celery(app: Celery) -> None:
    """Celery 5.7: acks_on_failure/acks_on_timeout, when unset, take acks_on_failure_or_timeout's value."""
    import celery

    for make in (lambda: app, lambda: celery.Celery("real", set_as_current=False)):
        real = make()
        old = real.task(acks_late=True, acks_on_failure_or_timeout=False, shared=False, name="t.old")(_noop)
        split = real.task(acks_late=True, acks_on_failure=False, shared=False, name="t.split")(_noop)
        plain = real.task(shared=False, name="t.plain")(_noop)
        observed = [(t.acks_on_failure, t.acks_on_timeout, t.retry_on_worker_lost) for t in (old, split, plain)]
        assert observed == [(False, False, False), (False, True, False), (True, True, False)], (real, observed)


def test_protocol_1_message_runs(app: Celery) -> None:
    task_id = str(uuid.uuid4())
    with Connection("django://") as conn:
        Producer(conn.default_channel).publish(
            {"task": add.name, "id": task_id, "args": [4, 5], "kwargs": {}, "retries": 0, "eta": None},
            exchange="", routing_key="celery", serializer="json",
        )

    assert drain(app) == 1

    assert app.AsyncResult(task_id).get(timeout=1) == 9


def test_content_type_outside_accept_content_is_kept_as_dead(app: Celery) -> None:
    add.apply_async((1, 1), serializer="pickle")

    assert drain(app) == 0

    assert Message.objects.get().status == Message.Status.DEAD


def test_chain_in_the_message_runs_step_by_step(app: Celery, tmp_path: Path) -> None:
    # The wire form of chain(a, b, c): a's message carries [c, b] (next step last).
    path = tmp_path / "steps"
    mark.apply_async((str(path), "first"), chain=[mark.si(str(path), "third"), mark.si(str(path), "second")])

    assert drain(app) == 3

    assert lines(path) == ["first", "second", "third"]


@pytest.mark.parametrize("dedupe", [True, False])
def test_worker_deduplicate_successful_tasks_skips_a_redelivered_success(
    app: Celery, tmp_path: Path, dedupe: bool
) -> None:
    """As Celery: an acks_late message delivered again after its run succeeded is not run again (when set)."""
    app.conf.worker_deduplicate_successful_tasks = dedupe
    path = tmp_path / "marks"
    # An earlier delivery ran to the end and stored its result; its worker
    # died before the ack, before the link was sent: the message comes back.
    result = late_mark.apply_async((str(path), "again"), link=mark.si(str(path), "callback"))
    app.backend.store_result(result.id, "first", states.SUCCESS)
    Message.objects.filter(task_id=result.id).update(delivery_count=1)

    drain(app)

    assert lines(path) == (["callback"] if dedupe else ["again", "callback"])
    assert result.get(timeout=1) == ("first" if dedupe else "again")
    assert not Message.objects.exists()


def _lost(row: Message) -> Any:
    """The run of ``row`` as the lease reaper reports it when its worker process died (row kept as dead)."""
    from kombu_transport_django.signals import LostRun

    Message.objects.filter(id=row.id).update(status=Message.Status.DEAD, dead_reason="WorkerLostError: test")
    return LostRun(row.id, row.queue, row.task_id, row.task_name, row.payload, "run:1:x@host", "WorkerLostError")


def test_a_run_lost_with_its_worker_process_fails_its_chain_and_calls_errbacks(app: Celery, tmp_path: Path) -> None:
    from celery_compat import chain
    from celery_compat.exceptions import WorkerLostError
    from celery_compat.worker.lost import store_lost_runs

    path = tmp_path / "marks"
    result = chain(mark.s(str(path), "never").on_error(mark.si(str(path), "errback")), add.si(1, 1)).delay()
    first = Message.objects.get()

    assert store_lost_runs(app, [_lost(first)]) == 1

    assert result.parent.state == states.FAILURE and result.state == states.FAILURE
    assert isinstance(result.parent.result, WorkerLostError) and isinstance(result.result, WorkerLostError)
    drain(app)  # the errback (old-style: a message)
    assert lines(path) == ["errback"]


def test_a_run_lost_with_its_worker_process_is_retried_with_retry_on_worker_lost(app: Celery, tmp_path: Path) -> None:
    from celery_compat.worker.lost import store_lost_runs

    path = tmp_path / "marks"
    retried = dies_once.delay(str(path))  # the task's options: retry_on_worker_lost, max_retries=1
    first = Message.objects.get()

    assert store_lost_runs(app, [_lost(first)]) == 1

    assert retried.state == states.RETRY
    again = Message.objects.get()  # the dead row is gone: sent again instead
    assert again.id != first.id and again.status == Message.Status.READY
    assert json.loads(again.payload)["headers"]["retries"] == 1
    # Out of retries: the next loss fails it.
    assert store_lost_runs(app, [_lost(again)]) == 1
    assert retried.state == states.FAILURE
    assert not lines(path)
