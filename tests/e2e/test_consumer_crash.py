"""Leases across processes: a killed consumer's messages come back, a slow one's don't.

Both tests run every consumer with the same small transport options, so the
bounds below follow from them.
"""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection
from django.db.models import Max

from kombu_transport_django.models import Message
from tests.helpers.e2e import publish_seqs, read_lines, received, wait_until

LEASE_SECONDS = 4
HEARTBEAT_INTERVAL = 1
#: starting the second consumer process (Django + kombu import) and its
#: polling after the reap
SLACK_SECONDS = 3
#: After a SIGKILL the held leases run out at most LEASE_SECONDS later (the
#: last renewal was at most one interval before the kill, so usually sooner),
#: the next consumer's heartbeat reaps them within one interval, and its
#: next poll claims them.
REDELIVERY_BOUND = LEASE_SECONDS + 2 * HEARTBEAT_INTERVAL + SLACK_SECONDS
#: ... and not before the lease could have lapsed: the last renewal before
#: the kill was at most one heartbeat interval earlier (0.5 s for clocks).
REDELIVERY_EARLIEST = LEASE_SECONDS - HEARTBEAT_INTERVAL - 0.5

HELD = 20
LEASE_ARGS = (
    "--lease-seconds", str(LEASE_SECONDS),
    "--heartbeat-interval", str(HEARTBEAT_INTERVAL),
)


def consumer_args(queue: str, out, status, *extra: str) -> list[str]:
    return [
        "-m", "tests.helpers.consume",
        "--queue", queue,
        "--out", str(out),
        "--status", str(status),
        *LEASE_ARGS,
        *extra,
    ]


def status_has(path, word: str):
    return lambda: word in read_lines(path)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_consumer_messages_are_redelivered(spawn, tmp_path):
    queue = "e2e.crash"
    total = HELD + 10
    assert publish_seqs(queue, range(total)) == total

    holder = spawn(
        *consumer_args(
            queue, tmp_path / "holder.out", tmp_path / "holder.status",
            "--prefetch", str(HELD), "--hold", str(HELD), "--deadline", "120",
        )
    )
    wait_until("holder holding", status_has(tmp_path / "holder.status", "holding"), 60, procs=[holder])
    held = received(tmp_path / "holder.out")
    # The first HELD in queue order, each delivered for the first time.
    assert held == [(seq, False) for seq in range(HELD)]
    leased = Message.objects.filter(queue=queue, status=Message.Status.LEASED)
    assert leased.count() == HELD
    assert Message.objects.filter(queue=queue, status=Message.Status.READY).count() == total - HELD

    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    killed_at = time.monotonic()
    holder.communicate(timeout=30)  # close its pipes
    assert holder.returncode == -signal.SIGKILL

    second = spawn(
        *consumer_args(
            queue, tmp_path / "second.out", tmp_path / "second.status",
            "--prefetch", "10", "--idle", str(REDELIVERY_BOUND + 5), "--deadline", "120",
        )
    )

    def all_redelivered() -> bool:
        return len({seq for seq, again in received(tmp_path / "second.out") if again}) >= HELD

    wait_until(
        "held messages redelivered",
        all_redelivered,
        timeout=REDELIVERY_BOUND + 10,
        procs=[second],
    )
    elapsed = time.monotonic() - killed_at
    print(
        f"\n[{connection.vendor}] {HELD} held messages redelivered {elapsed:.2f}s after SIGKILL "
        f"(lease_seconds={LEASE_SECONDS}, heartbeat_interval={HEARTBEAT_INTERVAL}, "
        f"bound {REDELIVERY_BOUND}s)"
    )

    # Everything the dead consumer held came back, flagged redelivered, and
    # the rest arrived once, not flagged.
    got = received(tmp_path / "second.out")
    assert sorted(got) == sorted([(seq, True) for seq in range(HELD)] + [(seq, False) for seq in range(HELD, total)])
    assert REDELIVERY_EARLIEST <= elapsed <= REDELIVERY_BOUND

    # The second consumer acks them all: the queue ends up empty.
    wait_until("queue empty", lambda: not Message.objects.filter(queue=queue).exists(), 10, procs=[second])
    second.kill()
    _, err = second.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert len(received(tmp_path / "second.out")) == total


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_live_slow_consumer_keeps_its_leases(spawn, tmp_path):
    queue = "e2e.slow"
    hold_seconds = 3 * LEASE_SECONDS
    assert publish_seqs(queue, range(HELD)) == HELD

    holder = spawn(
        *consumer_args(
            queue, tmp_path / "holder.out", tmp_path / "holder.status",
            "--prefetch", str(HELD), "--hold", str(HELD),
            "--hold-seconds", str(hold_seconds), "--deadline", "120",
        )
    )
    wait_until("holder holding", status_has(tmp_path / "holder.status", "holding"), 60, procs=[holder])
    holding_at = time.monotonic()
    assert received(tmp_path / "holder.out") == [(seq, False) for seq in range(HELD)]

    # A second consumer polls the same queue the whole time.
    poller = spawn(
        *consumer_args(
            queue, tmp_path / "poller.out", tmp_path / "poller.status",
            "--prefetch", "10", "--idle", "120", "--deadline", "120",
        )
    )
    wait_until("poller ready", status_has(tmp_path / "poller.status", "ready"), 30, procs=[poller])
    poller_ready_after = time.monotonic() - holding_at

    # While the holder lives, its leases are renewed: the rows stay leased
    # to it, never lapse, never go back to the queue.
    status = tmp_path / "holder.status"
    checks = 0
    while "acking" not in read_lines(status):
        assert time.monotonic() - holding_at < hold_seconds + 15, "holder never acked"
        rows = Message.objects.filter(queue=queue)
        snapshot = (
            rows.filter(status=Message.Status.LEASED).count(),
            rows.values("lease_owner").distinct().count(),
            rows.aggregate(m=Max("delivery_count"))["m"],
            received(tmp_path / "poller.out"),
        )
        if "acking" in read_lines(status):
            break  # the holder may have acked some rows during the snapshot
        assert snapshot == (HELD, 1, 1, [])
        checks += 1
        time.sleep(0.25)
    held_for = time.monotonic() - holding_at
    _, err = holder.communicate(timeout=30)
    print(
        f"\n[{connection.vendor}] live consumer held {HELD} messages unacked for {held_for:.2f}s "
        f"(lease_seconds={LEASE_SECONDS}); a parallel consumer polled for "
        f"{held_for - poller_ready_after:.2f}s of it and got none ({checks} checks)"
    )
    assert holder.returncode == 0, err
    # Its acks found their leases (QoS.ack warns "found no lease" otherwise).
    assert "found no lease" not in err and "lapsed leases" not in err, err
    # (0.5 s: the test saw "holding" up to one poll after it was written)
    assert held_for >= hold_seconds - 0.5
    assert held_for - poller_ready_after > 2 * LEASE_SECONDS
    assert checks > 0
    assert Message.objects.filter(queue=queue).count() == 0

    poller.kill()
    _, err = poller.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert received(tmp_path / "poller.out") == []
