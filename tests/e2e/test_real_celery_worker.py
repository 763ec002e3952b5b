"""A real ``celery worker`` process on ``django://``: tasks, ETA, remote control.

The worker runs tests/helpers/celery_app.py (results in Celery's filesystem
backend, in a directory of this test). Its broker transport options are the
app's: ``lease_seconds=10``, ``heartbeat_interval=1``.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from celery.backends.filesystem import FilesystemBackend
from celery.result import AsyncResult
from django.db import connection

from kombu_transport_django.leases import Heartbeat
from kombu_transport_django.models import Message, Queue
from tests.helpers.celery_app import add, app, mark, ran_at
from tests.helpers.e2e import read_lines, wait_until

WORKER_NAME = f"w1@{socket.gethostname()}"
PIDBOX_QUEUE = f"{WORKER_NAME}.celery.pidbox"
#: the worker app's broker_transport_options["heartbeat_interval"]
WORKER_HEARTBEAT_INTERVAL = app.conf.broker_transport_options["heartbeat_interval"]
#: control_queue_expires for the worker (CELERY_CONTROL_QUEUE_EXPIRES):
#: x-expires of its pidbox queue, in seconds
CONTROL_QUEUE_EXPIRES = 4
#: heartbeat of the bystander consumer that reaps the expired queue
BYSTANDER_HEARTBEAT = 1
SLACK_SECONDS = 3
#: After the worker exits, its pidbox queue (last seen by the worker's
#: heartbeat, so no later than the exit) is past x-expires at most
#: CONTROL_QUEUE_EXPIRES later, and the next bystander heartbeat deletes it
#: (slack: starting the bystander process).
PIDBOX_EXPIRY_BOUND = CONTROL_QUEUE_EXPIRES + BYSTANDER_HEARTBEAT + SLACK_SECONDS
#: ... and not before it expired: until the shutdown request the worker's
#: heartbeat touched it at least every WORKER_HEARTBEAT_INTERVAL (0.5 s for
#: clocks), so it lives CONTROL_QUEUE_EXPIRES - 1 interval past the request.
PIDBOX_EXPIRY_EARLIEST = CONTROL_QUEUE_EXPIRES - WORKER_HEARTBEAT_INTERVAL - 0.5
#: how long the worker has answered ping before its last ping: well past
#: its pidbox queue's x-expires
ALIVE_PAST_EXPIRY = CONTROL_QUEUE_EXPIRES + 2 * WORKER_HEARTBEAT_INTERVAL
COUNTDOWN = 2
REVOKED_COUNTDOWN = 4
READY_TIMEOUT = 60


@pytest.fixture
def worker(spawn, tmp_path):
    """Start ``celery worker`` and wait until it answers ping; yields helpers."""
    results = tmp_path / "results"
    results.mkdir()
    # Heartbeat threads of connections other tests left open are theirs.
    threads_before = set(Heartbeat.threads())
    started = time.monotonic()
    proc = spawn(
        "-m", "celery", "-A", "tests.helpers.celery_app", "worker",
        "-P", "solo", "-l", "INFO", "-n", "w1@%h",
        CELERY_RESULT_DIR=str(results),
        CELERY_CONTROL_QUEUE_EXPIRES=str(CONTROL_QUEUE_EXPIRES),
    )
    backend = FilesystemBackend(app=app, url=f"file://{results}")

    def ping():
        # A connection of its own, closed after: the reply consumer starts
        # a heartbeat thread in this process, which must not outlive it.
        with app.connection_for_write() as conn:
            return app.control.inspect(timeout=0.5, destination=[WORKER_NAME], connection=conn).ping()

    pong = wait_until("worker answering ping", ping, READY_TIMEOUT, interval=0.1, procs=[proc])
    ready_seconds = time.monotonic() - started
    print(f"\n[{connection.vendor}] worker answered ping {ready_seconds:.2f}s after start")
    yield {
        "proc": proc,
        "first_pong": pong,
        "ready_at": time.monotonic(),
        "ping": ping,
        "result": lambda r: AsyncResult(r.id, backend=backend, app=app),
        "threads_before": threads_before,
    }
    assert set(Heartbeat.threads()) - threads_before == set()


def shutdown(worker) -> tuple[float, str]:
    """``app.control.shutdown()``; the worker must exit cleanly. Its stderr."""
    proc = worker["proc"]
    sent = time.monotonic()
    app.control.shutdown(destination=[WORKER_NAME])
    try:
        _, err = proc.communicate(timeout=30)
    except Exception:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"worker did not exit within 30s of shutdown:\n{err}") from None
    took = time.monotonic() - sent
    assert proc.returncode == 0, err
    return took, err


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_runs_tasks_eta_revoke_ping_shutdown(worker, tmp_path):
    result = worker["result"]
    assert worker["first_pong"] == {WORKER_NAME: {"ok": "pong"}}

    # A task runs and its result comes back.
    sent = time.monotonic()
    assert result(add.delay(2, 3)).get(timeout=30, interval=0.05) == 5
    round_trip = time.monotonic() - sent

    # countdown: withheld in the queue table until due, then run, not before.
    sent_at = time.time()
    eta_task = ran_at.apply_async(countdown=COUNTDOWN)
    withheld = Message.objects.filter(task_id=eta_task.id, status=Message.Status.READY)
    assert withheld.count() == 1
    ran = result(eta_task).get(timeout=COUNTDOWN + 30, interval=0.05)
    eta_delay = ran - (sent_at + COUNTDOWN)
    assert ran >= sent_at + COUNTDOWN
    assert eta_delay < 5
    assert Message.objects.filter(task_id=eta_task.id).count() == 0

    # Revoked before its countdown ends: state REVOKED, and at its ETA the
    # worker takes the message and drops it without running it.
    marker = tmp_path / "revoked-ran"
    revoked = mark.apply_async((str(marker), "revoked"), countdown=REVOKED_COUNTDOWN)
    revoked_sent = time.monotonic()
    revoked.revoke()
    wait_until("REVOKED state", lambda: result(revoked).state == "REVOKED", 30, procs=[worker["proc"]])
    assert Message.objects.filter(task_id=revoked.id).count() == 1  # still withheld
    wait_until(
        "revoked task's message consumed",
        lambda: not Message.objects.filter(task_id=revoked.id).exists(),
        REVOKED_COUNTDOWN + 30,
        procs=[worker["proc"]],
    )
    assert time.monotonic() - revoked_sent >= REVOKED_COUNTDOWN
    # A task sent after it, to the same solo worker, has run: so would the
    # revoked one have, had it not been dropped.
    assert result(add.delay(1, 1)).get(timeout=30, interval=0.05) == 2
    assert not marker.exists()
    assert result(revoked).state == "REVOKED"

    # Alive past its pidbox queue's x-expires: the worker's heartbeat keeps
    # the queue, remote control still reaches it.
    alive_for = time.monotonic() - worker["ready_at"]
    if alive_for < ALIVE_PAST_EXPIRY:
        time.sleep(ALIVE_PAST_EXPIRY - alive_for)
    assert Queue.objects.filter(name=PIDBOX_QUEUE, expires_ms=CONTROL_QUEUE_EXPIRES * 1000).count() == 1
    assert worker["ping"]() == {WORKER_NAME: {"ok": "pong"}}

    took, err = shutdown(worker)
    print(
        f"[{connection.vendor}] add round trip {round_trip * 1000:.0f}ms; countdown={COUNTDOWN} task "
        f"ran {eta_delay * 1000:.0f}ms after its ETA; worker exited {took:.2f}s after shutdown"
    )
    assert "Traceback" not in err, err
    assert "found no lease" not in err, err


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_stopped_worker_pidbox_queue_expires(worker, spawn, tmp_path):
    assert Queue.objects.filter(name=PIDBOX_QUEUE).count() == 1
    took, err = shutdown(worker)
    stopped_at = time.monotonic()
    shutdown_sent_at = stopped_at - took
    assert "Traceback" not in err, err
    # A clean stop leaves the queue to expire (virtual transports delete nothing).
    assert Queue.objects.filter(name=PIDBOX_QUEUE).count() == 1

    # This process must not be the one heartbeating (none of its
    # connections consumes any more).
    assert set(Heartbeat.threads()) - worker["threads_before"] == set()

    bystander = spawn(
        "-m", "tests.helpers.consume",
        "--queue", "e2e.bystander",
        "--out", str(tmp_path / "bystander.out"),
        "--status", str(tmp_path / "bystander.status"),
        "--heartbeat-interval", str(BYSTANDER_HEARTBEAT),
        "--lease-seconds", "4",
        "--idle", "60",
        "--deadline", "60",
    )
    wait_until("pidbox queue gone", lambda: not Queue.objects.filter(name=PIDBOX_QUEUE).exists(),
             PIDBOX_EXPIRY_BOUND + 10, interval=0.1, procs=[bystander])
    gone_at = time.monotonic()
    gone_after = gone_at - stopped_at
    print(
        f"\n[{connection.vendor}] pidbox queue {PIDBOX_QUEUE!r} deleted {gone_after:.2f}s after the "
        f"worker exited, {gone_at - shutdown_sent_at:.2f}s after the shutdown request "
        f"(x-expires={CONTROL_QUEUE_EXPIRES}s, bound {PIDBOX_EXPIRY_BOUND}s)"
    )
    assert "ready" in read_lines(Path(tmp_path / "bystander.status"))
    assert gone_after <= PIDBOX_EXPIRY_BOUND
    assert gone_at - shutdown_sent_at >= PIDBOX_EXPIRY_EARLIEST
    # Its bindings and messages went with it.
    from kombu_transport_django.models import Binding

    assert Binding.objects.filter(queue=PIDBOX_QUEUE).count() == 0
    assert Message.objects.filter(queue=PIDBOX_QUEUE).count() == 0
    bystander.kill()
    _, err = bystander.communicate(timeout=30)
    assert "Traceback" not in err, err
