"""Database faults under load: killed sessions, a simulated restart, a long transaction.

The shared PostgreSQL server may not be restarted (other test runs use
it), so a restart is *simulated* here: every session of the test database is
killed with ``pg_terminate_backend`` over and over for a few seconds, so
workers and producers see their connections drop and their reconnects fail
until the "restart" is over. Nobody is restarted by hand afterwards. A real
stop and start of a private server is in ``test_real_restart.py``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections

from kombu_transport_django.models import Message

from tests.chaos.harness import (
    StartWorker,
    account,
    executed,
    ledger_counts,
    next_completion,
    record,
    scaled,
    setting,
    task_ids,
    terminate_backends,
    wait_settled,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SETTLE_TIMEOUT = 600
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_terminate_backend")


@postgresql_only
@pytest.mark.parametrize("mode", ["once", "restart"])
def test_every_connection_killed_under_load(chaos_worker: StartWorker, producers, tmp_path: Path,
                                            mode: str) -> None:
    ledger = tmp_path / "ledger"
    per_kind = scaled(300)
    workers = [chaos_worker("-P", "prefork", "-c", "2", ready=False) for _ in range(2)]
    for worker in workers:
        wait_until(f"{worker.hostname} up", lambda w=worker: consuming_(w.hostname), 120,
                   procs=[worker.proc], log=worker.log)
    # Producers publish slowly, so they are mid-stream when the sessions die.
    procs = producers("chaos.record", ledger, "early", per_kind, batch=20, seconds=0.01, pause=0.05)
    procs += producers("chaos.record_late", ledger, "late", per_kind, batch=20, seconds=0.01, pause=0.05)
    ids = task_ids("early", 0, per_kind) + task_ids("late", 0, per_kind)
    wait_until("a fifth to run", lambda: executed(ids, ledger) >= len(ids) // 5, SETTLE_TIMEOUT,
               procs=[w.proc for w in workers])

    killed = 0
    started = time.monotonic()
    if mode == "once":
        killed = terminate_backends()
        outage = 0.0
    else:
        outage = setting("outage_seconds", 5)
        while time.monotonic() - started < outage:
            killed += terminate_backends()
            time.sleep(0.2)
    fault_at = time.monotonic()
    # Recovered: tasks complete again after the last kill.
    recovery = next_completion(ids, ledger, SETTLE_TIMEOUT, procs=[w.proc for w in workers])

    for proc in procs:
        assert proc.wait(timeout=SETTLE_TIMEOUT) == 0, "a producer gave up"
    wait_settled(ids, ledger, SETTLE_TIMEOUT, procs=[w.proc for w in workers])
    name = ("every session killed once (pg_terminate_backend) under load" if mode == "once" else
            f"simulated database restart: every session killed every 0.2 s for {outage:g} s")
    acc = account(name, ids, ledger)
    early = account("early", task_ids("early", 0, per_kind), ledger, subset=True)
    acc.recovery_s = round(recovery, 1)
    acc.settle_s = round(time.monotonic() - fault_at, 1)
    retries = sum(_retries(p) for p in (tmp_path).glob("producer-*.log"))
    acc.extra = {"sessions_killed": killed, "producer_batches_republished": retries,
                 "duplicated_early": early.duplicated}
    acc.notes = ("2 workers (prefork -c 2) and 4 producer processes running; half the tasks acks_late; "
                 "nobody restarted")
    record(acc)
    assert killed >= 1
    assert acc.lost == 0, acc
    assert all(w.proc.poll() is None for w in workers)
    # Early ack: never run twice. A request whose lease was given back (the
    # consumer's close at a reconnect) or lapsed is refused at start, since
    # its message is delivered again (test_delivery_points.py hits that race
    # deterministically).
    assert early.duplicated == 0, early


def _retries(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("published"):
            return int(line.split()[-1])
    return 0


def consuming_(hostname: str) -> bool:
    from tests.chaos.harness import consuming

    return consuming(hostname)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has one writer: no SKIP LOCKED queue to trap")
def test_a_transaction_held_open_beside_the_queue(chaos_worker: StartWorker, producers, tmp_path: Path) -> None:
    """The trap of SKIP LOCKED queues: an old snapshot keeps every dead row version.

    PostgreSQL cannot vacuum row versions newer than the oldest open
    transaction, so each claim scans more of them; InnoDB's purge waits
    likewise. Measured: throughput before and during the hold; the queue
    must keep moving while the transaction is open.
    """
    from tests.chaos.harness import publish

    ledger = tmp_path / "ledger"
    hold = setting("hold_seconds", 10)
    # 300 at the CI's 10 s hold; longer holds measure on larger batches.
    size = scaled(max(300, int(30 * hold)))
    worker = chaos_worker("-P", "threads", "-c", "4")

    before = task_ids("before", 0, size)
    publish("chaos.record_quiet", ledger, before)
    t0 = time.monotonic()
    wait_settled(before, ledger, SETTLE_TIMEOUT, procs=[worker.proc], check_every=0.2)
    rate_before = size / (time.monotonic() - t0)

    # CHAOS_HOLD_CONTROL=1: the same run without the transaction, to tell
    # the hold's cost from that of the publishers sharing the CPU.
    control = bool(setting("hold_control", 0))
    holding = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def hold_transaction() -> None:
        conn = connections.create_connection("default")
        try:
            with conn.cursor() as cursor:
                if control:
                    pass
                elif conn.vendor == "postgresql":
                    cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                    cursor.execute("SELECT txid_current()")
                else:
                    cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                cursor.execute("SELECT count(*) FROM django_kombu_message")
                holding.set()
                release.wait(hold + 60)
                if not control:
                    cursor.execute("ROLLBACK")
        except BaseException as exc:  # noqa: BLE001  reported by the test
            errors.append(exc)
            holding.set()
        finally:
            conn.close()

    holder = threading.Thread(target=hold_transaction, daemon=True)
    holder.start()
    holding.wait(60)
    held_at = time.monotonic()
    # Published over the hold faster than the worker ran them before (1.5x),
    # so a backlog forms and the rate while held is the worker's, not the
    # publisher's (a fixed count would cap it at count / hold).
    count = min(max(size * 4, int(rate_before * hold * 1.5)), scaled(1000 * int(hold)))
    during = task_ids("during", 0, count)
    # Two producer processes (a thread here shares this process's CPU and
    # GIL and could not keep up), spread over the hold so that the claims
    # meet fresh dead row versions.
    publishers = producers("chaos.record_quiet", ledger, "during", count, n=2, batch=50,
                           pause=hold / max(1, count / 2 / 50))
    time.sleep(hold)
    held_for = time.monotonic() - held_at
    # Waiting then, with the done ones: published. A backlog means the rate
    # while held is the worker's (not limited by the publisher).
    backlog = Message.objects.filter(task_id__startswith="during-").exclude(status=Message.Status.DEAD).count()
    counts = ledger_counts(ledger)  # once: per id it would read the ledger len(during) times
    done_while_held = sum(1 for i in during if counts.get(i))
    release.set()
    holder.join(60)
    for proc in publishers:
        assert proc.wait(timeout=SETTLE_TIMEOUT) == 0, "a producer failed"
    wait_settled(during, ledger, SETTLE_TIMEOUT, procs=[worker.proc])
    assert not errors, errors
    rate_during = done_while_held / held_for

    # After the release: the same batch as before, so the three rates compare
    # (the dead row versions of the hold may now be vacuumed/purged).
    after = task_ids("after", 0, size)
    publish("chaos.record_quiet", ledger, after)
    t0 = time.monotonic()
    wait_settled(after, ledger, SETTLE_TIMEOUT, procs=[worker.proc], check_every=0.2)
    rate_after = size / (time.monotonic() - t0)

    name = (f"control: no transaction held, {hold:g} s of publishing" if control else
            f"transaction held open {hold:g} s beside the queue")
    acc = account(name, before + during + after, ledger)
    acc.recovery_s = 0.0  # nothing to recover from: throughput is the measure
    acc.extra = {
        "tasks_per_s_before": round(rate_before, 1),
        "tasks_per_s_while_held": round(rate_during, 1),
        "tasks_per_s_after": round(rate_after, 1),
        "slowdown": round(rate_before / rate_during, 2) if rate_during else None,
        "done_while_held": done_while_held,
        "backlog_at_release": backlog,
        "hold_s": round(held_for, 1),
    }
    acc.notes = (f"throughput {rate_before:.0f}/s before, {rate_during:.0f}/s while held, "
                 f"{rate_after:.0f}/s after (1 worker, threads -c 4, 2 producer processes during the hold; "
                 f"{backlog} waiting when released)")
    record(acc)
    assert acc.lost == 0 and acc.duplicated == 0, acc
    assert done_while_held > 0, "the queue stalled while a transaction was open"
