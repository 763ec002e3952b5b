"""Delivery at the exact fault points that the load tests hit only by chance.

Each test puts a fault at one moment of a real ``runworker`` process
(:mod:`tests.chaos.faults`), so the outcome is deterministic:

- the worker SIGKILLed after the early ack, before the task ran: the run
  must be kept as ``FAILURE``/``WorkerLostError`` (and a dead message row),
  never silently lost, never re-run;
- the worker's main process SIGKILLed after it accepted a request, before
  its pool child got the job (and made the early ack): the message is
  delivered again and runs once;
- the consumer's leases given back (a reconnect) just before a request
  starts: the request must not run here, because its message is delivered
  again; it runs exactly once.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from django.db import connection

from celery_compat.models import TaskResult
from kombu_transport_django.models import Message
from tests.chaos.harness import (
    RunWorker,
    StartWorker,
    account,
    publish,
    task_ids,
    wait_settled,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SETTLE_TIMEOUT = 120


def _killed_after_ack_then_survivor(chaos_worker: StartWorker, task: str, ledger: Path, ids: list[str],
                                    fault: str = "kill-after-ack") -> RunWorker:
    """Publish ``ids``; a worker is SIGKILLed at ``fault`` with the first; a second one settles them."""
    victim = chaos_worker("-P", "prefork", "-c", "1", "--prefetch-multiplier", "1", CHAOS_FAULT=fault)
    publish(task, ledger, ids)
    assert victim.proc.wait(timeout=SETTLE_TIMEOUT) == -signal.SIGKILL, victim.output()[-3000:]
    survivor = chaos_worker("-P", "prefork", "-c", "1")
    wait_settled(ids, ledger, SETTLE_TIMEOUT, procs=[survivor.proc])
    return survivor


def test_worker_killed_between_early_ack_and_child(
    chaos_worker: StartWorker, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    ids = task_ids("kill", 0, 1)
    # A surviving worker's reaper finds the run once the dead process's lease lapses.
    survivor = _killed_after_ack_then_survivor(chaos_worker, "chaos.record", ledger, ids)
    acc = account("worker SIGKILLed between early ack and child", ids, ledger)
    assert acc.lost == 0, acc  # before the fix: acked (deleted) and never run, no trace
    assert acc.ran == 0, acc  # acked at start: never run again
    # The reaper keeps the row as dead, then its receiver stores the result.
    wait_until(
        "the FAILURE stored",
        lambda: TaskResult.objects.filter(task_id=ids[0], status="FAILURE").exists(),
        30,
        procs=[survivor.proc],
        log=survivor.log,
    )
    row = TaskResult.objects.get(task_id=ids[0])
    assert row.status == "FAILURE"
    stored = json.loads(row.result)
    # As Celery stores a WorkerLostError (billiard's class).
    assert (stored["exc_type"], stored["exc_module"]) == (
        "WorkerLostError",
        "billiard.exceptions",
    ), stored
    assert "Worker exited prematurely" in stored["exc_message"][0]
    dead = Message.objects.dead().get(task_id=ids[0])
    assert "WorkerLostError" in dead.dead_reason


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the start rides on the result write on PostgreSQL only")
def test_worker_killed_after_its_next_start_rode_on_a_result(chaos_worker: StartWorker, tmp_path: Path) -> None:
    """The mark made with the result before (nextstart.py), the worker killed before the task ran: recorded as lost."""
    ledger = tmp_path / "ledger"
    first, ids = task_ids("ride", 0, 1), task_ids("kill", 0, 1)
    victim = chaos_worker("-P", "prefork", "-c", "1", CHAOS_FAULT="kill-after-ride")
    # The first runs long enough for the second to wait in the child's pipe.
    publish("chaos.record", ledger, first, seconds=0.5)
    publish("chaos.record", ledger, ids)
    assert victim.proc.wait(timeout=SETTLE_TIMEOUT) == -signal.SIGKILL, victim.output()[-3000:]
    # The statement that stored the first's result made the second's mark.
    assert TaskResult.objects.get(task_id=first[0]).status == "SUCCESS"
    assert Message.objects.get(task_id=ids[0]).is_running
    survivor = chaos_worker("-P", "prefork", "-c", "1")
    wait_until(
        "the FAILURE stored",
        lambda: TaskResult.objects.filter(task_id=ids[0], status="FAILURE").exists(),
        SETTLE_TIMEOUT,
        procs=[survivor.proc],
        log=survivor.log,
    )
    acc = account("worker SIGKILLed after its next start rode on a result", first + ids, ledger)
    # the first ran once; the second never, and failed with WorkerLostError
    assert (acc.ran, acc.duplicated, acc.lost, acc.failed_with_reason) == (1, 0, 0, 1), acc
    stored = json.loads(TaskResult.objects.get(task_id=ids[0]).result)
    assert stored["exc_type"] == "WorkerLostError", stored
    assert "WorkerLostError" in Message.objects.dead().get(task_id=ids[0]).dead_reason


@pytest.mark.parametrize(
    ("task", "prefix"),
    [
        # Early ack: never started anywhere, so delivered again (before the
        # early ack moved into the child, this was an acked message kept as
        # WorkerLostError).
        ("chaos.record", "kill"),
        # acks_late: unacked until it ends, so delivered again.
        ("chaos.record_late", "kill-late"),
    ],
)
def test_worker_killed_after_accept_before_the_child_started_is_redelivered(
    chaos_worker: StartWorker, tmp_path: Path, task: str, prefix: str
) -> None:
    ledger = tmp_path / "ledger"
    ids = task_ids(prefix, 0, 1)
    _killed_after_ack_then_survivor(chaos_worker, task, ledger, ids, fault="kill-after-accept")
    acc = account(f"worker SIGKILLed after accepting {task}, before the child started it", ids, ledger)
    assert (acc.ran, acc.duplicated, acc.lost, acc.failed_with_reason) == (1, 0, 0, 0), acc
    assert TaskResult.objects.get(task_id=ids[0]).status == "SUCCESS"


def test_leases_given_back_just_before_start_runs_once(
    chaos_worker: StartWorker, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    worker = chaos_worker(
        "-P", "prefork", "-c", "2", CHAOS_FAULT="give-back-before-start"
    )
    ids = task_ids("give-back", 0, 10)
    publish("chaos.record", ledger, ids)
    wait_settled(ids, ledger, SETTLE_TIMEOUT, procs=[worker.proc])
    wait_until(
        "every row deleted",
        lambda: not Message.objects.filter(task_id__in=ids).exists(),
        30,
    )
    acc = account("leases given back just before start (early ack)", ids, ledger)
    assert (acc.ran, acc.duplicated, acc.lost, acc.failed_with_reason) == (
        len(ids),
        0,
        0,
        0,
    ), acc
    assert "not started here" in worker.output()  # the fault point was reached
