"""Worker faults under load: SIGKILL of the worker or of a child, SIGTERM in a burst.

Every test publishes a known set of task ids, injects the fault while real
``manage.py runworker`` processes run them, lets the system recover and
accounts for every id (:mod:`tests.chaos.harness`): none may be lost, a
duplicate is allowed only for ``acks_late`` tasks, and every failure must
carry its reason. Runs on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kombu_transport_django.models import Message
from tests.chaos.harness import (
    StartWorker,
    account,
    busy_pids,
    consuming,
    executed,
    ledger_counts,
    pool_children,
    held_by,
    publish,
    record,
    scaled,
    seconds_until,
    tokens_of,
    task_ids,
    wait_settled,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

#: generous upper bound for a run to settle: a hang, not a speed check
SETTLE_TIMEOUT = 600


def _leased() -> int:
    return Message.objects.filter(status=Message.Status.LEASED).count()


def test_sigkill_of_the_worker_main_process(chaos_worker: StartWorker, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    early = task_ids("early", 0, scaled(200))
    late = task_ids("late", 0, scaled(200))
    victim = chaos_worker("-P", "prefork", "-c", "2", ready=False)
    survivor = chaos_worker("-P", "prefork", "-c", "2")
    wait_until("the victim consuming", lambda: consuming(victim.hostname), 90, procs=[victim.proc], log=victim.log)
    publish("chaos.record", ledger, early, seconds=0.02)
    publish("chaos.record_late", ledger, late, seconds=0.02)
    ids = early + late
    wait_until("a quarter to run", lambda: executed(ids, ledger) >= len(ids) // 4, SETTLE_TIMEOUT,
               procs=[victim.proc, survivor.proc])
    # Kill it while it holds claimed messages (prefetched or running).
    tokens = wait_until("the victim to hold messages", lambda: (t := tokens_of(victim.pid)) and held_by(t) and t,
                        SETTLE_TIMEOUT, interval=0.02, procs=[victim.proc], log=victim.log)
    held = held_by(tokens)

    os.kill(victim.pid, signal.SIGKILL)
    victim.proc.wait(timeout=30)
    killed_at = time.monotonic()

    # Recovered: the dead worker's leases lapsed and its messages went back.
    recovery = seconds_until(lambda: held_by(tokens) == 0, SETTLE_TIMEOUT)
    wait_settled(ids, ledger, SETTLE_TIMEOUT, procs=[survivor.proc])
    acc = account("SIGKILL of a worker's main process (prefork -c 2, two workers)", ids, ledger)
    early_acc = account("early", early, ledger, subset=True)
    acc.recovery_s = round(recovery, 1)
    acc.settle_s = round(time.monotonic() - killed_at, 1)
    acc.extra = {"held_by_killed_worker": held, "acks_late_ids": len(late),
                 "duplicated_early": early_acc.duplicated}
    acc.notes = (f"the killed worker held {held} messages; they came back when its leases lapsed "
                 f"(lease_seconds=4); half the tasks acks_late")
    late_acc = account("late", late, ledger, subset=True)
    acc.notes += ("; early-ack runs the worker had started are kept as FAILURE WorkerLostError "
                  "(or finished in the orphaned child), never re-run")
    record(acc)
    assert late_acc.lost == 0, late_acc  # acks_late: never lost
    # Early ack: a message acked at start is kept as running until its run
    # ends, so a SIGKILL between the ack and the child leaves a visible
    # WorkerLostError (tests/chaos/test_delivery_points.py hits that point
    # deterministically), never a loss, never a second run.
    assert early_acc.lost == 0, early_acc
    assert early_acc.duplicated == 0, early_acc  # no duplicate without acks_late
    assert set(early_acc.reasons) <= {"FAILURE WorkerLostError"}, early_acc


@pytest.mark.parametrize("acks_late", [False, True], ids=["early-ack", "acks-late"])
def test_sigkill_of_a_prefork_child_mid_task(chaos_worker: StartWorker, tmp_path: Path, acks_late: bool) -> None:
    ledger = tmp_path / "ledger"
    ids = task_ids("child", 0, scaled(80))
    kills = 3
    worker = chaos_worker("-P", "prefork", "-c", "2")
    publish("chaos.record_late" if acks_late else "chaos.record", ledger, ids, seconds=0.3)

    killed = 0
    recoveries: list[float] = []
    for round_ in range(1, kills + 1):
        wait_until(f"progress before kill {round_}",
                   lambda: executed(ids, ledger) >= round_ * len(ids) // (kills + 2),
                   SETTLE_TIMEOUT, procs=[worker.proc], log=worker.log)
        pids = wait_until("a child mid-task", lambda: sorted(busy_pids(ledger) & set(pool_children(worker.pid))),
                          SETTLE_TIMEOUT, interval=0.02, procs=[worker.proc], log=worker.log)
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed += 1
            fault_at = time.monotonic()
            # Recovered: a new child replaced the killed one.
            recoveries.append(seconds_until(
                lambda: pids[0] not in (now := pool_children(worker.pid)) and len(now) == 2, SETTLE_TIMEOUT))
    assert killed == kills

    wait_settled(ids, ledger, SETTLE_TIMEOUT, procs=[worker.proc])
    settle = time.monotonic() - fault_at  # from the last kill
    recovery = max(recoveries)
    acc = account(
        f"SIGKILL of a prefork child mid-task ×{kills} ({'acks_late' if acks_late else 'early ack'})",
        ids, ledger,
    )
    acc.recovery_s = round(recovery, 1)
    acc.settle_s = round(settle, 1)
    acc.notes = ("killed runs delivered again (reject_on_worker_lost)" if acks_late
                 else "killed runs recorded as FAILURE WorkerLostError, not re-run")
    record(acc)
    assert acc.lost == 0, acc
    if acks_late:
        assert acc.failed_with_reason == 0, acc
        assert acc.duplicated <= kills, acc
        starts = ledger_counts(Path(str(ledger) + ".starts"))
        assert sum(starts.values()) - len(ids) >= 1  # killed runs started again
    else:
        assert acc.duplicated == 0, acc
        # Each kill aims at a child running a task; on a loaded machine the
        # task may finish between the look and the kill, so at least one.
        assert 1 <= acc.failed_with_reason <= kills, acc
        assert set(acc.reasons) <= {"FAILURE WorkerLostError"}, acc


def test_sigterm_during_a_burst(chaos_worker: StartWorker, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    early = task_ids("early", 0, scaled(150))
    late = task_ids("late", 0, scaled(150))
    ids = early + late
    first = chaos_worker("-P", "prefork", "-c", "2")
    publish("chaos.record", ledger, early, seconds=0.05)
    publish("chaos.record_late", ledger, late, seconds=0.05)
    wait_until("a third to run", lambda: executed(ids, ledger) >= len(ids) // 3, SETTLE_TIMEOUT,
               procs=[first.proc], log=first.log)

    first.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert first.wait_exit(120) == 0, first.output()
    stopped_in = time.monotonic() - signalled
    # Warm shutdown: running tasks finished, claimed ones given back at once.
    assert _leased() == 0
    given_back = Message.objects.filter(status=Message.Status.READY).count()

    second = chaos_worker("-P", "prefork", "-c", "2")
    wait_settled(ids, ledger, SETTLE_TIMEOUT, procs=[second.proc])
    acc = account("SIGTERM during a burst (warm shutdown, then a new worker)", ids, ledger)
    acc.recovery_s = round(stopped_in, 1)  # SIGTERM → exit, everything settled or given back
    acc.settle_s = round(time.monotonic() - signalled, 1)
    acc.extra = {"warm_shutdown_s": round(stopped_in, 1), "ready_after_shutdown": given_back}
    acc.notes = "half acks_late; the shut-down worker finished its running tasks and gave the rest back"
    record(acc)
    assert acc.lost == 0 and acc.duplicated == 0 and acc.failed_with_reason == 0, acc
