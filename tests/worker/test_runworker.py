"""``manage.py runworker`` processes: shutdown, prefork children, time limits, crashes.

Each test starts its own worker (tests/worker/proj, found without ``-A`` as
in Celery's Django layout) on the test database and talks to it only
through the database: messages, results, remote control.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from celery_compat import Celery, states
from celery_compat.exceptions import (
    TaskRevokedError,
    TimeLimitExceeded,
    TimeoutError,
    WorkerLostError,
)
from celery_compat.result import AsyncResult
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.helpers.e2e import wait_until
from tests.worker.conftest import RunWorker, StartWorker
from tests.worker.proj.tasks import (
    add,
    dies,
    dies_after_success,
    dies_once,
    dies_without_retries_left,
    late_and_requeued,
    mark,
    pid,
    sleep_then_mark,
    soft_limited,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def started_pid(path: Path, timeout: float, worker: RunWorker) -> int:
    """Wait for a ``start <value> <pid>`` line; the pid of the child running it."""
    line = wait_until("the task to start", lambda: next((ln for ln in lines(path) if ln.startswith("start")), None),
                      timeout, procs=[worker.proc], log=worker.log)
    return int(line.split()[-1])


def results_of(results: list[AsyncResult], timeout: float, worker: RunWorker) -> list[Any]:
    """Each result's value; on a timeout, the worker's log says why."""
    try:
        return [r.get(timeout=timeout) for r in results]
    except TimeoutError:
        raise AssertionError(f"a result did not come in {timeout}s\n{worker.output()[-20000:]}") from None


def test_sigterm_is_a_warm_shutdown(runworker: StartWorker, tmp_path: Path, app: Celery) -> None:
    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1")
    running = sleep_then_mark.delay(1.5, str(path), "running")
    queued = [mark.delay(str(path), name) for name in ("q1", "q2")]
    started_pid(path, 30, worker)
    # The two others are prefetched (leased) but not started.
    wait_until("prefetch", lambda: Message.objects.leased().count() == 2, 10)

    os.kill(worker.pid, signal.SIGTERM)

    assert worker.wait_exit(20) == 0, worker.output()
    assert lines(path)[-1] == "end running"
    assert running.get(timeout=1) == "running"
    # Given back at once, in order, not dead: the next worker runs them.
    assert list(Message.objects.values_list("status", flat=True)) == [Message.Status.READY] * 2
    assert "Warm shutdown" in worker.output()
    events = [e.rsplit(" ", 1)[0] for e in lines(tmp_path / "events")]  # without the pid
    assert events == [
        "worker_init WorkController",
        "before_create_process PreforkPool",
        "process_init",
        "worker_ready Consumer",
        f"worker_shutting_down SIGTERM Warm 0 {worker.hostname}",
        "process_shutdown exitcode=0",
        "worker_shutdown WorkController",
    ]
    assert drain(app) == 2
    assert [r.get(timeout=1) for r in queued] == ["q1", "q2"]


def test_second_signal_is_a_cold_shutdown(runworker: StartWorker, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1")
    sleep_then_mark.delay(30, str(path), "long")
    child = started_pid(path, 30, worker)

    os.kill(worker.pid, signal.SIGTERM)
    time.sleep(0.3)
    os.kill(worker.pid, signal.SIGTERM)

    assert worker.wait_exit(10) == 1, worker.output()
    assert "Cold shutdown" in worker.output()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_prefork_time_limits_and_replacement_of_the_killed_child(runworker: StartWorker, tmp_path: Path) -> None:
    worker = runworker("-P", "prefork", "-c", "1", "--soft-time-limit", "0.5", "--time-limit", "1.5")

    assert soft_limited.delay(1.0).get(timeout=20) == "soft"
    hard = soft_limited.delay(10, keep_going=True)
    with pytest.raises(TimeLimitExceeded) as raised:
        hard.get(timeout=20)
    assert raised.value.args == (1.5,)
    assert hard.state == states.FAILURE
    # The killed child was replaced: the worker still runs tasks.
    assert add.delay(1, 1).get(timeout=20) == 2
    assert "Hard time limit (1.5s) exceeded" in worker.output()
    inits = [e for e in lines(tmp_path / "events") if e.startswith("process_init")]
    assert len(inits) == 2 and inits[0] != inits[1]
    created = [e for e in lines(tmp_path / "events") if e.startswith("before_create_process")]
    assert len(created) == 2 and created[0] == f"before_create_process PreforkPool {worker.pid}"


def test_sigkill_of_a_child_fails_the_task_with_worker_lost_error(runworker: StartWorker, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1")
    result = sleep_then_mark.delay(30, str(path), "killed")
    child = started_pid(path, 30, worker)

    os.kill(child, signal.SIGKILL)

    with pytest.raises(WorkerLostError) as raised:
        result.get(timeout=20)
    assert str(raised.value) == "Worker exited prematurely: signal 9 (SIGKILL) Job: 0."
    assert add.delay(2, 3).get(timeout=20) == 5
    # Acked at start: not redelivered. The rows are deleted when their runs
    # end, just after the results are stored (kept as running until then).
    wait_until("the rows deleted", lambda: not Message.objects.exists(), 10)
    assert not Message.objects.dead().exists()


def test_a_revoke_stops_the_job_a_busy_child_holds_next(runworker: StartWorker, tmp_path: Path, app: Celery) -> None:
    """A busy child is sent its next job early; until it starts, it is reserved and revocable."""
    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1")
    blocker = sleep_then_mark.delay(1.5, str(path), "blocker")
    started_pid(path, 30, worker)
    queued = mark.delay(str(path), "queued")
    inspect = app.control.inspect(timeout=10, destination=[worker.hostname])
    # Reserved, not active, although the child already holds it.
    wait_until("the next job reserved", lambda: [t["id"] for t in inspect.reserved()[worker.hostname]] == [queued.id], 10)
    assert [t["id"] for t in inspect.active()[worker.hostname]] == [blocker.id]

    app.control.revoke(queued.id)

    assert blocker.get(timeout=20) == "blocker"
    with pytest.raises(TaskRevokedError):
        queued.get(timeout=20)
    assert add.delay(1, 2).get(timeout=20) == 3, worker.output()
    assert "queued" not in lines(path) and "end blocker" in lines(path)
    wait_until("the rows deleted", lambda: not Message.objects.exists(), 10)


@pytest.mark.parametrize("revoked", ["first", "second"])
def test_a_revoke_of_one_of_two_jobs_sent_ahead_stops_it_and_the_other_runs_and_settles(
    runworker: StartWorker, tmp_path: Path, app: Celery, revoked: str
) -> None:
    """Two jobs wait in a busy child's pipe; one is revoked: it never runs, the other does.

    Revoking the first, the worker must follow the child on to the second
    (it had taken the first for running when the blocker ended).
    """
    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1")
    blocker = sleep_then_mark.delay(1.5, str(path), "blocker")
    started_pid(path, 30, worker)
    results = {name: mark.delay(str(path), name) for name in ("first", "second")}
    inspect = app.control.inspect(timeout=10, destination=[worker.hostname])
    wait_until("both sent ahead", lambda: sorted(t["id"] for t in inspect.reserved()[worker.hostname])
               == sorted(r.id for r in results.values()), 10)

    app.control.revoke(results[revoked].id)

    assert blocker.get(timeout=20) == "blocker"
    with pytest.raises(TaskRevokedError):
        results[revoked].get(timeout=20)
    (other,) = set(results) - {revoked}
    assert results[other].get(timeout=20) == other, worker.output()
    # Every row settled, and the worker's idea of what runs where is right:
    # a later task is not taken for the one before it.
    assert add.delay(1, 2).get(timeout=20) == 3, worker.output()
    wait_until("the rows deleted", lambda: not Message.objects.exists(), 10)
    assert inspect.active()[worker.hostname] == [] and inspect.reserved()[worker.hostname] == []
    assert revoked not in lines(path)


def test_a_child_gives_back_its_next_job_when_it_dies_or_retires(runworker: StartWorker, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1", "--max-tasks-per-child", "2")
    killed = sleep_then_mark.delay(30, str(path), "killed")
    child = started_pid(path, 30, worker)
    after_kill = [mark.delay(str(path), f"a{n}") for n in range(2)]
    time.sleep(0.5)  # the first is sent to the busy child as its next job

    os.kill(child, signal.SIGKILL)

    with pytest.raises(WorkerLostError):
        killed.get(timeout=20)
    # Never started there: given back and run once by the replacement,
    # which retires after two tasks while holding its next job.
    more = [mark.delay(str(path), f"b{n}") for n in range(5)]
    assert results_of(after_kill + more, 20, worker) == ["a0", "a1", "b0", "b1", "b2", "b3", "b4"]
    ran = [line for line in lines(path) if not line.startswith(("start", "end"))]
    assert sorted(ran) == ["a0", "a1", "b0", "b1", "b2", "b3", "b4"], worker.output()
    wait_until("the rows deleted", lambda: not Message.objects.exists(), 10)
    inits = [e for e in lines(tmp_path / "events") if e.startswith("process_init")]
    assert len(inits) >= 4, inits  # the killed child, then one per two tasks


def test_a_dead_child_fails_its_chain_calls_errbacks_and_honours_retry_on_worker_lost(
    runworker: StartWorker, tmp_path: Path
) -> None:
    """As Celery 5.7's worker when a pool process dies mid-task."""
    from celery_compat import chain

    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1")
    # The chain's later step fails with the same error; the errback is called.
    chained = chain(dies.s(str(path)).on_error(mark.si(str(path), "errback")), add.si(1, 1)).delay()
    with pytest.raises(WorkerLostError):
        chained.get(timeout=30)
    # get() raises as soon as the dead step's FAILURE is stored (it follows
    # parents, as Celery's); the later step's FAILURE is written just after.
    wait_until("both steps FAILURE", lambda: chained.state == states.FAILURE == chained.parent.state, 10,
               procs=[worker.proc], log=worker.log)
    wait_until("the errback", lambda: "errback" in lines(path), 20, procs=[worker.proc], log=worker.log)
    # retry_on_worker_lost: sent again as retry() would, until max_retries.
    assert dies_once.delay(str(path)).get(timeout=30) == 1
    gone = dies_without_retries_left.delay(str(path))
    with pytest.raises(WorkerLostError):
        gone.get(timeout=30)
    assert lines(path).count("run 0") == 2 and lines(path).count("run 1") == 1
    # A success stored before the process died is kept.
    assert dies_after_success.delay().get(timeout=30) == "kept"
    wait_until("the warning", lambda: "succeeded before the worker was lost" in worker.output(), 10)
    assert add.delay(2, 3).get(timeout=20) == 5
    wait_until("the rows deleted", lambda: not Message.objects.exists(), 10)


def test_sigkill_with_acks_late_and_reject_on_worker_lost_runs_it_again(runworker: StartWorker, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1")
    result = late_and_requeued.delay(str(path), 1.0)
    child = started_pid(path, 30, worker)

    os.kill(child, signal.SIGKILL)

    assert result.get(timeout=30) == "done"
    starts = [ln for ln in lines(path) if ln.startswith("start")]
    assert len(starts) == 2 and starts[0] != starts[1]
    assert lines(path)[-1] == "end"


@pytest.mark.parametrize("limit", [("--max-tasks-per-child", "1"), ("--max-memory-per-child", "1")])
def test_children_are_replaced_past_their_task_or_memory_limit(runworker: StartWorker, tmp_path: Path, limit: tuple[str, str]) -> None:
    runworker("-P", "prefork", "-c", "1", *limit)

    pids = [pid.delay().get(timeout=20) for _ in range(3)]

    assert len(set(pids)) == 3
    assert len([e for e in lines(tmp_path / "events") if e.startswith("process_init")]) >= 3


def test_children_exit_when_the_worker_is_killed(runworker: StartWorker, app: Celery) -> None:
    worker = runworker("-P", "prefork", "-c", "2")
    stats = app.control.inspect(timeout=10, destination=[worker.hostname]).stats()[worker.hostname]
    children = stats["pool"]["processes"]
    fork_server = _ppid(children[0])
    assert len(children) == 2 and fork_server not in (worker.pid, os.getpid())

    os.kill(worker.pid, signal.SIGKILL)

    wait_until("the pool processes to exit", lambda: not any(map(_alive, [fork_server, *children])), 10)


def test_revoke_terminate_kills_the_running_task(runworker: StartWorker, tmp_path: Path, app: Celery) -> None:
    path = tmp_path / "marks"
    worker = runworker("-P", "prefork", "-c", "1")
    result = sleep_then_mark.delay(30, str(path), "terminated")
    child = started_pid(path, 30, worker)

    app.control.revoke(result.id, terminate=True, signal="SIGKILL")

    # revoke() stores REVOKED 'revoked' at once; the worker then 'terminated'.
    wait_until("REVOKED terminated",
               lambda: "terminated" in str(app.backend.get_task_meta(result.id, cache=False)["result"]), 20)
    with pytest.raises(TaskRevokedError, match="terminated"):
        app.AsyncResult(result.id).get(timeout=1)
    wait_until("the child to die", lambda: not _alive(child), 10)
    assert add.delay(1, 2).get(timeout=20) == 3, worker.output()


def test_remote_shutdown_stops_the_worker_warm(runworker: StartWorker, app: Celery) -> None:
    worker = runworker("-P", "solo")
    assert app.control.inspect(timeout=10, destination=[worker.hostname]).ping() == {
        worker.hostname: {"ok": "pong"}
    }

    app.control.shutdown(destination=[worker.hostname])

    assert worker.wait_exit(20) == 0, worker.output()
    assert "Got shutdown from remote" in worker.output()


def test_until_empty_exits_zero_once_the_queues_are_empty(runworker: StartWorker, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    for value in range(3):
        mark.delay(str(path), value)

    worker = runworker("-P", "threads", "-c", "2", "--until-empty", ready=False)

    assert worker.wait_exit(60) == 0, worker.output()
    assert sorted(lines(path)) == ["0", "1", "2"]


def _alive(pid_: int) -> bool:
    try:
        os.kill(pid_, 0)
    except ProcessLookupError:
        return False
    # A zombie until the worker reaps it counts as dead. The reaping can land
    # between open() and read(): reading then raises ProcessLookupError (ESRCH).
    try:
        with open(f"/proc/{pid_}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _ppid(pid_: int) -> int:
    with open(f"/proc/{pid_}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])
