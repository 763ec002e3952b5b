"""A real PostgreSQL restart under load, on a private cluster made for the test.

The shared test server may not be restarted, so this test makes its own
cluster (:mod:`tests.chaos.pgcluster`: ``initdb`` into a temporary
directory, a free loopback port, its socket in that directory), migrates it,
runs two ``runworker`` processes and four producer processes against it and,
while tasks run and producers publish, stops the server with ``pg_ctl stop
-m fast`` (sessions ended, transactions rolled back) or ``-m immediate``
(the server quits, crash recovery at the next start) for
``CHAOS_OUTAGE_SECONDS`` (default 5), then starts it again. Nobody touches
the workers or producers: they must carry on by themselves. Every task id is
then accounted for (:func:`tests.chaos.harness.account`): 0 lost, no
duplicate of an early-ack task (counted only, for the crash with the opt-in
``synchronous_commit=False``, which may undo the last start marks); a
producer whose batch failed either publishes it again (rolled back) or
finds it committed (the commit was in doubt) and says so.

When it runs: in the PostgreSQL stage (``DATABASE_URL`` on PostgreSQL: the
server programs are there, and the cluster is independent of that server),
or anywhere with ``CHAOS_REAL_RESTART=1``; ``CHAOS_REAL_RESTART=0`` turns it
off. Without ``initdb`` it is skipped, except under ``CI=true`` where it
fails.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest
from django.db import connection, connections

from tests.chaos.harness import (
    StartWorker,
    account,
    consuming,
    executed,
    ledger_counts,
    next_completion,
    record,
    scaled,
    setting,
    task_ids,
    wait_settled,
    wait_until,
)
from tests.chaos.pgcluster import PrivateCluster, why_unavailable
from tests.conftest import ROOT, subprocess_env

pytestmark = [pytest.mark.slow]

ALIAS = "chaos_private"
SETTLE_TIMEOUT = 600
_flag = os.environ.get("CHAOS_REAL_RESTART", "")
_wanted = _flag == "1" or (_flag != "0" and connection.vendor == "postgresql")
_in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def cluster(django_db_blocker) -> Iterator[PrivateCluster]:
    """A migrated private cluster, reachable from this process as ``ALIAS``."""
    if not _wanted:
        pytest.skip("runs in the PostgreSQL stage (its own cluster, whatever DATABASE_URL is); "
                    "CHAOS_REAL_RESTART=1 runs it here")
    reason = why_unavailable()
    if reason:
        if _in_ci:
            pytest.fail(f"CI=true: the real-restart test needs a PostgreSQL server install: {reason}")
        pytest.skip(reason)
    import subprocess
    import sys

    from tests.dburl import parse

    pg = PrivateCluster()
    try:
        pg.start()
        pg.create_database("chaos")
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
            capture_output=True, text=True, timeout=300,
            env=subprocess_env(DJANGO_SETTINGS_MODULE="tests.chaos.settings", **_env(pg)),
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        conf = connections.configure_settings({"default": dict(connections.settings["default"]),
                                               ALIAS: parse(pg.url, ROOT)})
        connections.settings[ALIAS] = conf[ALIAS]
        with django_db_blocker.unblock():
            yield pg
            connections[ALIAS].close()
    finally:
        connections.settings.pop(ALIAS, None)
        pg.destroy()


def _env(pg: PrivateCluster) -> dict[str, str]:
    """Environment of the workers, producers and ``migrate``: the private cluster's database."""
    return {"DATABASE_URL": pg.url, "DJANGO_TEST_DB_NAME": "chaos", "TEST_DB_SUFFIX": ""}


@pytest.mark.parametrize("mode,durable", [("fast", True), ("immediate", True), ("immediate", False)],
                         ids=["fast", "immediate", "immediate-async-start-marks"])
def test_a_real_database_restart_under_load(cluster: PrivateCluster, chaos_worker: StartWorker, producers,
                                            tmp_path: Path, mode: str, durable: bool) -> None:
    """``durable=False``: the workers run with ``synchronous_commit=False``.

    A crash may then undo the last start marks, so an early-ack task may
    run twice (docs/transport.md): counted, not asserted. Nothing may be
    lost either way.
    """
    env = _env(cluster)
    if not durable:
        env["CHAOS_SYNCHRONOUS_COMMIT"] = "off"
    ledger = tmp_path / "ledger"
    per_kind = scaled(200)
    workers = [chaos_worker("-P", "prefork", "-c", "2", ready=False, **env) for _ in range(2)]
    for worker in workers:
        wait_until(f"{worker.hostname} up", lambda w=worker: consuming(w.hostname, using=ALIAS), 120,
                   procs=[worker.proc], log=worker.log)
    # Slow producers (batches of 10, 0.5 s apart: ~20 tasks/s each), so they
    # are mid-stream when the server goes away.
    run = mode if durable else f"{mode}-async"
    early_prefix, late_prefix = f"{run}-early", f"{run}-late"
    procs = producers("chaos.record", ledger, early_prefix, per_kind, n=2, batch=10, seconds=0.01, pause=0.5,
                      env=env)
    procs += producers("chaos.record_late", ledger, late_prefix, per_kind, n=2, batch=10, seconds=0.01, pause=0.5,
                       env=env)
    ids = task_ids(early_prefix, 0, per_kind) + task_ids(late_prefix, 0, per_kind)
    wait_until("some tasks to run", lambda: executed(ids, ledger) >= len(ids) // 10, SETTLE_TIMEOUT,
               procs=[w.proc for w in workers])

    outage = setting("outage_seconds", 5)
    producers_publishing = sum(1 for p in procs if p.poll() is None)
    ran_before = executed(ids, ledger)
    down_at = time.monotonic()
    cluster.stop(mode)
    stopped_in = time.monotonic() - down_at
    time.sleep(outage)
    ran_while_down = executed(ids, ledger) - ran_before
    start_took = cluster.start()
    up_at = time.monotonic()
    connections[ALIAS].close()  # this process's session died with the server
    # Recovered: a task completes after the server is back.
    recovery = next_completion(ids, ledger, SETTLE_TIMEOUT, procs=[w.proc for w in workers])

    for proc in procs:
        assert proc.wait(timeout=SETTLE_TIMEOUT) == 0, "a producer gave up"
    wait_settled(ids, ledger, SETTLE_TIMEOUT, procs=[w.proc for w in workers], using=ALIAS)
    settle = time.monotonic() - up_at
    acc = account(f"real database restart: pg_ctl stop -m {mode}, {outage:g} s down, start (private cluster)"
                  f"{'' if durable else ', asynchronous start marks'}",
                  ids, ledger, using=ALIAS)
    early = account("early", task_ids(early_prefix, 0, per_kind), ledger, subset=True, using=ALIAS)
    logs = [p.read_text() for p in sorted(tmp_path.glob("producer-*.log"))]
    failed_batches = sum(log.count("failed (") for log in logs)
    in_doubt = sum(log.count("in doubt:") for log in logs)
    # Ran, but no SUCCESS result stored (a result write that failed while the
    # server was down, after the backend's retries): reported, not asserted.
    from celery_compat.models import TaskResult

    counts = ledger_counts(ledger)
    succeeded = set(TaskResult.objects.using(ALIAS).filter(task_id__in=ids, status="SUCCESS")
                    .values_list("task_id", flat=True))
    no_result = sorted(i for i in ids if counts.get(i) and i not in succeeded)
    acc.recovery_s = round(recovery, 1)
    acc.settle_s = round(settle, 1)
    acc.extra = {
        "mode": mode, "synchronous_commit": durable,
        "down_s": round(up_at - down_at, 1), "stop_s": round(stopped_in, 1),
        "start_s": round(start_took, 1), "ran_while_down": ran_while_down,
        "producers_publishing_at_stop": producers_publishing,
        "producer_batches_failed": failed_batches, "producer_batches_in_doubt_found_committed": in_doubt,
        "duplicated_early": early.duplicated,
        "ran_without_success_result": len(no_result), "ran_without_success_result_ids": no_result[:10],
    }
    acc.notes = (f"server down {up_at - down_at:.1f} s; 2 workers (prefork -c 2"
                 f"{'' if durable else ', synchronous_commit=False'}), {producers_publishing} of 4 "
                 f"producers publishing at the stop: {failed_batches} batches failed and were published again"
                 f"{f' ({in_doubt} found committed)' if in_doubt else ''}; half the tasks acks_late; "
                 f"nobody restarted the workers")
    record(acc, database="postgresql")
    assert acc.lost == 0, acc
    assert all(w.proc.poll() is None for w in workers), "a worker exited"
    if durable:
        assert early.duplicated == 0, early


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_tasks_that_end_while_the_server_is_down_are_settled_when_it_is_back(
        cluster: PrivateCluster, chaos_worker: StartWorker, producers, tmp_path: Path, pool: str) -> None:
    """The acks of tasks that end during an outage wait for the server; the worker lives on.

    Before, the prefork supervisor reconnected once, failed again (the server
    still down), crashed, and took the worker with it; a dropped ack would
    also have left its message leased for as long as the worker lived. The
    lease (30 s here) outlasts the outage, so nothing lapses: every task must
    run exactly once and leave no row behind.
    """
    from kombu_transport_django.models import Message

    env = {**_env(cluster), "CHAOS_LEASE_SECONDS": "30"}
    ledger = tmp_path / "ledger"
    worker = chaos_worker("-P", pool, "-c", "2", ready=False, **env)
    wait_until(f"{worker.hostname} up", lambda: consuming(worker.hostname, using=ALIAS), 120,
               procs=[worker.proc], log=worker.log)
    early, late = f"settle-{pool}-early", f"settle-{pool}-late"
    procs = producers("chaos.record", ledger, early, 1, seconds=2.0, env=env)
    procs += producers("chaos.record_late", ledger, late, 1, seconds=2.0, env=env)
    ids = task_ids(early, 0, 1) + task_ids(late, 0, 1)
    starts = Path(f"{ledger}.starts")
    wait_until("both tasks to start", lambda: starts.exists() and len(ledger_counts(starts)) == 2, 120,
               procs=[worker.proc], log=worker.log)
    cluster.stop("fast")
    wait_until("both tasks to end while the server is down", lambda: executed(ids, ledger) == 2, 60,
               procs=[worker.proc], log=worker.log)
    time.sleep(3)  # their acks fail, and fail again
    assert worker.proc.poll() is None, worker.log.read_text()[-5000:]
    cluster.start()
    connections[ALIAS].close()
    wait_until("the queue to empty", lambda: not Message.objects.using(ALIAS).exists(), 120,
               procs=[worker.proc], log=worker.log)
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    log = worker.log.read_text()
    assert "failed again" in log, log[-5000:]  # the deferred path was taken, not just a reconnect
    assert ledger_counts(ledger) == {i: 1 for i in ids}
    assert worker.proc.poll() is None, log[-5000:]
