"""§7 K1 and §6 E2 across worker processes: revokes and ETA tasks when workers
are killed or started later (deliberate differences: the database keeps both).

The worker here runs in a process of its own (``procworker.py``) on a queue
no other worker consumes, so what it knows it learnt from the broker and the
database, not from the suite's workers.
"""

from __future__ import annotations

import time
from pathlib import Path

from compat_suite.differences import deliberate
from compat_suite.procworker import kill, process_worker


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_k1_revoke_seen_by_a_worker_started_later(impl, tmp_path):
    path = tmp_path / "ran"
    queue = f"later-{time.time_ns()}"
    r = impl.t.touch.apply_async((str(path), "ran"), queue=impl.q(queue))
    r.revoke()
    time.sleep(1.0)  # the suite's live worker got the broadcast
    with process_worker(impl, queue, "later"):
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and not lines(path):
            time.sleep(0.1)
        time.sleep(1.0)  # its result stored
    impl.check([lines(path), r.state], deliberate(
        "revokes-persist", celery=[["ran"], "SUCCESS"], celery_django=[["ran"], "SUCCESS"],
        celery_compat=[[], "REVOKED"]))


def test_k1_revoke_reaches_a_live_worker(impl, tmp_path):
    # The proof for Celery-written code: revoking a task a live worker holds.
    path = tmp_path / "ran"
    queue = f"live-{time.time_ns()}"
    with process_worker(impl, queue, "live"):
        r = impl.t.touch.apply_async((str(path), "ran"), queue=impl.q(queue), countdown=1.5)
        time.sleep(0.5)
        r.revoke()
        impl.wait_for("REVOKED", lambda: r.state == "REVOKED", timeout=20)
        time.sleep(2.0)
    impl.check([lines(path), r.state], [[], "REVOKED"])


def test_e2_eta_task_survives_a_killed_worker(impl, tmp_path):
    path = tmp_path / "ran"
    queue = f"eta-{time.time_ns()}"
    with process_worker(impl, queue, "first") as first:
        r = impl.t.touch.apply_async((str(path), "ran"), queue=impl.q(queue), countdown=3)
        time.sleep(1.5)  # received (Celery holds it in memory), not due yet
        kill(first)
    with process_worker(impl, queue, "second"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (lines(path) and r.ready()):
            time.sleep(0.1)
        state = r.state
    impl.check([lines(path), state], deliberate(
        "eta-waits-in-the-table", celery=[[], "PENDING"], celery_compat=[["ran"], "SUCCESS"],
        celery_django=[["ran"], "SUCCESS"]))


def test_e2_eta_task_runs_once_on_a_live_worker(impl, tmp_path):
    # The proof for Celery-written code: a countdown task runs once, when due.
    path = tmp_path / "ran"
    queue = f"eta-live-{time.time_ns()}"
    with process_worker(impl, queue, "eta"):
        started = time.monotonic()
        r = impl.t.touch.apply_async((str(path), "ran"), queue=impl.q(queue), countdown=1.5)
        value = r.get(timeout=20)
        elapsed = time.monotonic() - started
        time.sleep(0.5)
    impl.check([value, lines(path), elapsed >= 1.4], ["ran", ["ran"], True])


def test_e2_eta_tasks_are_not_in_the_workers_memory(impl):
    r = impl.t.add.apply_async((1, 1), countdown=3)
    time.sleep(1.0)
    with impl.allow_join_result():
        replies = impl.app.control.inspect(destination=[impl.hostname], timeout=2).scheduled() or {}
    held = [entry["request"]["id"] for entry in replies.get(impl.hostname, [])]
    impl.check([r.id in held], deliberate("eta-waits-in-the-table", celery=[True], celery_django=[False],
                                          celery_compat=[False]))
    r.get(timeout=30)
