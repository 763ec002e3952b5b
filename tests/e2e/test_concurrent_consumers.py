"""Consumer processes drain one queue together: every message once, none twice."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from django.db import connection

from kombu_transport_django.models import Message
from tests.helpers.e2e import publish_seqs, received, wait_until

CONSUMERS = 4
PREFETCH = 10
#: a consumer exits once the queue gave it nothing for this long
IDLE_SECONDS = 2.0
#: a consumer gives up after this long, drained or not
DEADLINE = 240
#: test_acks_and_heartbeats_never_deadlock
CONTENTION_CONSUMERS = 6
CONTENTION_MESSAGES = 3_000
CONTENTION_HEARTBEAT = 0.05


def message_count() -> int:
    # 10,000 on PostgreSQL and MariaDB. SQLite has a single writer, so four
    # claiming-and-acking processes take turns on one lock: the same test
    # runs there with 2,000 messages to keep its runtime in line.
    return 2_000 if connection.vendor == "sqlite" else 10_000


@dataclass
class Drained:
    per_consumer: list[list[int]]
    redelivered: int
    stderr: list[str]
    publish_seconds: float
    drain_seconds: float

    @property
    def everything(self) -> list[int]:
        return [seq for seqs in self.per_consumer for seq in seqs]


def drain(spawn: Callable, tmp_path: Path, queue: str, total: int, consumers: int, *args: str) -> Drained:
    """Publish ``total`` messages, then let ``consumers`` processes drain them.

    The consumers all connect first and start claiming together (a start
    file); each exits after IDLE_SECONDS without a message, and must exit 0.
    """
    started = time.monotonic()
    assert publish_seqs(queue, range(total)) == total
    publish_seconds = time.monotonic() - started
    assert Message.objects.filter(queue=queue).count() == total

    go = tmp_path / "go"
    procs = []
    for i in range(consumers):
        procs.append(
            spawn(
                "-m", "tests.helpers.consume",
                "--queue", queue,
                "--out", str(tmp_path / f"c{i}.out"),
                "--status", str(tmp_path / f"c{i}.status"),
                "--summary", str(tmp_path / f"c{i}.json"),
                "--start-file", str(go),
                "--idle", str(IDLE_SECONDS),
                "--deadline", str(DEADLINE),
                *args,
            )
        )
    # All connected and consuming before any of them claims a message.
    wait_until(
        "all consumers ready",
        lambda: all((tmp_path / f"c{i}.status").exists() for i in range(consumers)),
        timeout=60,
        procs=procs,
    )
    go_at = time.time()
    go.touch()

    stderr = []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=DEADLINE + 30)
        assert proc.returncode == 0, f"consumer {i} rc={proc.returncode}\n{out}\n{err}"
        stderr.append(err)

    rows = [received(tmp_path / f"c{i}.out") for i in range(consumers)]
    summaries = [json.loads((tmp_path / f"c{i}.json").read_text()) for i in range(consumers)]
    assert [s["count"] for s in summaries] == [len(r) for r in rows]
    last_at = max(s["last_at"] for s in summaries if s["last_at"] is not None)
    return Drained(
        per_consumer=[[seq for seq, _ in r] for r in rows],
        redelivered=sum(again for r in rows for _, again in r),
        stderr=stderr,
        publish_seconds=publish_seconds,
        drain_seconds=last_at - go_at,
    )


def assert_exactly_once(drained: Drained, queue: str, total: int) -> None:
    everything = drained.everything
    duplicates = {seq: n for seq, n in Counter(everything).items() if n > 1}
    assert duplicates == {}
    assert len(everything) == total
    assert set(everything) == set(range(total))
    # Nothing redelivered: every lease lived until its ack.
    assert drained.redelivered == 0
    # Acked means deleted: nothing ready, leased or dead is left.
    assert Message.objects.filter(queue=queue).count() == 0
    assert Message.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_four_consumers_drain_queue_exactly_once(spawn, tmp_path):
    queue = "e2e.concurrent"
    total = message_count()
    drained = drain(spawn, tmp_path, queue, total, CONSUMERS, "--prefetch", str(PREFETCH))

    heartbeat_failures = sum(err.count("heartbeat failed") for err in drained.stderr)
    print(
        f"\n[{connection.vendor}] published {total} in one transaction in {drained.publish_seconds:.2f}s "
        f"({total / drained.publish_seconds:.0f} msg/s); {CONSUMERS} consumers drained them in "
        f"{drained.drain_seconds:.2f}s ({total / drained.drain_seconds:.0f} msg/s received+acked); "
        f"per consumer: {[len(s) for s in drained.per_consumer]}; failed heartbeats: {heartbeat_failures}"
    )
    for i, err in enumerate(drained.stderr):
        assert "Traceback" not in err, f"consumer {i}:\n{err}"
        # An ack that found no lease: a lease lapsed under a live consumer.
        assert "found no lease" not in err, f"consumer {i}:\n{err}"
    assert_exactly_once(drained, queue, total)
    # Each consumer took part (all four were consuming before the first claim).
    assert all(len(seqs) > 0 for seqs in drained.per_consumer), [len(s) for s in drained.per_consumer]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_acks_and_heartbeats_never_deadlock(spawn, tmp_path):
    """Each consumer's heartbeat renews its leases while its acks delete them.

    Both run all the time in every consumer (the heartbeat on its own
    thread and connection). If the database can deadlock the two, it kills
    one: a failed beat is only logged, but a killed ack raises from
    ``message.ack()`` into the application (here: the consumer process dies
    and its message is delivered again). A short heartbeat interval and
    one message per claim make the two meet often within a few seconds.
    """
    queue = "e2e.contention"
    total = CONTENTION_MESSAGES
    drained = drain(
        spawn, tmp_path, queue, total, CONTENTION_CONSUMERS,
        "--prefetch", "1",
        "--heartbeat-interval", str(CONTENTION_HEARTBEAT),
        "--lease-seconds", "4",
    )
    deadlocks = sum(err.count("Deadlock") for err in drained.stderr)
    heartbeat_failures = sum(err.count("heartbeat failed") for err in drained.stderr)
    print(
        f"\n[{connection.vendor}] {CONTENTION_CONSUMERS} consumers (prefetch 1, heartbeat every "
        f"{CONTENTION_HEARTBEAT}s) drained {total} in {drained.drain_seconds:.2f}s "
        f"({total / drained.drain_seconds:.0f} msg/s); deadlocks: {deadlocks}, "
        f"failed heartbeats: {heartbeat_failures}"
    )
    for i, err in enumerate(drained.stderr):
        assert "Deadlock" not in err, f"consumer {i}:\n{err}"
        assert "heartbeat failed" not in err, f"consumer {i}:\n{err}"
        assert "Traceback" not in err, f"consumer {i}:\n{err}"
    assert_exactly_once(drained, queue, total)
