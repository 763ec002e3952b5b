"""Consumers wake on publish: NOTIFY on PostgreSQL, short polls elsewhere."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest
from django.db import connection, connections
from kombu import Connection, Consumer, Exchange, Producer, Queue

from .conftest import pytestmark  # noqa: F401

# Far longer than the test's drain timeout: a delivery can only come from a
# NOTIFY wake-up, never from the safety-net poll.
NO_POLLING = 60.0

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="LISTEN/NOTIFY exists on PostgreSQL only"
)


def publish_soon(name: str, body: Any, delay: float = 0.3) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        with Connection("django://") as conn:
            queue = Queue(name, Exchange(name, "direct"), routing_key=name)
            Producer(conn.default_channel).publish(body, exchange=queue.exchange, routing_key=name, declare=[queue])
        connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_for_one(conn: Connection, name: str, timeout: float) -> list[Any]:
    received: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        received.append(body)
        message.ack()

    queue = Queue(name, Exchange(name, "direct"), routing_key=name)
    with Consumer(conn, [queue], callbacks=[on_message]):
        try:
            conn.drain_events(timeout=timeout)
        except TimeoutError:
            pass
    return received


@postgresql_only
def test_notify_wakes_an_idle_consumer_without_polling(
    connection_factory: Callable[..., Connection],
) -> None:
    conn = connection_factory(polling_interval=NO_POLLING)
    queue = Queue("wake", Exchange("wake", "direct"), routing_key="wake")
    queue(conn.default_channel).declare()
    wait_for_one(conn, "wake", timeout=0.5)  # LISTEN is now established

    sender = publish_soon("wake", "hello")
    started = time.monotonic()
    received = wait_for_one(conn, "wake", timeout=10)
    sender.join()

    assert received == ["hello"]
    print(f"woken {time.monotonic() - started:.3f}s after waiting began (publish at 0.3s)")


@postgresql_only
def test_listen_notify_can_be_switched_off(
    connection_factory: Callable[..., Connection],
) -> None:
    conn = connection_factory(
        polling_interval=NO_POLLING, min_polling_interval=NO_POLLING, use_listen_notify=False
    )
    Queue("quiet", Exchange("quiet", "direct"), routing_key="quiet")(conn.default_channel).declare()
    wait_for_one(conn, "quiet", timeout=0.5)

    sender = publish_soon("quiet", "hello")
    started = time.monotonic()
    received = wait_for_one(conn, "quiet", timeout=2)
    waited = time.monotonic() - started
    sender.join()

    # No wake-up at the publish (0.3 s): the message is only found by the
    # one poll at the end of the 2 s drain timeout.
    assert received == ["hello"]
    assert waited >= 2.0


def test_polling_consumer_picks_up_a_publish_quickly(
    connection_factory: Callable[..., Connection],
) -> None:
    conn = connection_factory(use_listen_notify=False, polling_interval=0.1)
    Queue("poll", Exchange("poll", "direct"), routing_key="poll")(conn.default_channel).declare()

    sender = publish_soon("poll", "hello", delay=0.2)
    received = wait_for_one(conn, "poll", timeout=5)
    sender.join()

    assert received == ["hello"]


def test_eta_message_is_delivered_once_due_while_waiting(
    connection_factory: Callable[..., Connection],
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    conn = connection_factory(polling_interval=NO_POLLING)
    queue = Queue("due", Exchange("due", "direct"), routing_key="due")
    eta = timezone.now() + timedelta(seconds=1)
    Producer(conn.default_channel).publish(
        "x", exchange=queue.exchange, routing_key="due", declare=[queue], headers={"eta": eta.isoformat()}
    )

    received = wait_for_one(conn, "due", timeout=5)

    assert received == ["x"]
    assert timezone.now() >= eta


def test_an_ack_from_another_thread_wakes_a_consumer_held_by_its_prefetch_limit(
    connection_factory: Callable[..., Connection],
) -> None:
    # Pools ack from other threads while the consumer waits in
    # drain_events(). With the prefetch window full no new message can wake
    # it (nothing is published), so it must wake on the ack itself; polling
    # and LISTEN are pushed out of reach here (60 s) to prove it.
    conn = connection_factory(
        polling_interval=NO_POLLING, min_polling_interval=NO_POLLING, use_listen_notify=False
    )
    queue = Queue("held", Exchange("held", "direct"), routing_key="held")
    producer = Producer(conn.default_channel)
    for body in ("first", "second"):
        producer.publish(body, exchange=queue.exchange, routing_key="held", declare=[queue])

    received: list[Any] = []
    with Consumer(conn, [queue], callbacks=[lambda body, message: received.append((body, message))]) as consumer:
        consumer.qos(prefetch_count=1)
        conn.drain_events(timeout=10)
        assert [body for body, _ in received] == ["first"]

        def ack_first() -> None:
            time.sleep(0.3)
            received[0][1].ack()
            connections.close_all()

        acker = threading.Thread(target=ack_first)
        acker.start()
        started = time.monotonic()
        conn.drain_events(timeout=30)
        waited = time.monotonic() - started
        acker.join()

    # Not a speed check: without the wake-up it sleeps the whole 30 s and
    # only then claims; with it, it wakes at the ack (0.3 s) however slow the machine.
    assert waited < 20, f"slept through the ack: drain_events took {waited:.1f}s"

    assert [body for body, _ in received] == ["first", "second"]
    received[1][1].ack()


def test_an_ack_after_a_reconnect_closed_the_channel_does_not_raise(
    connection_factory: Callable[..., Connection],
) -> None:
    # A reconnect closes the old channel (kombu then sets its connection to
    # None) while pool threads still ack its messages: the ack's wake-up must
    # not reach through channel.connection (it raised AttributeError and the
    # worker exited).
    conn = connection_factory()
    queue = Queue("closed", Exchange("closed", "direct"), routing_key="closed")
    Producer(conn.default_channel).publish("one", exchange=queue.exchange, routing_key="closed", declare=[queue])
    received: list[Any] = []
    channel = conn.channel()
    consumer = Consumer(channel, [queue], callbacks=[lambda body, message: received.append(message)])
    consumer.consume()
    conn.drain_events(timeout=10)
    channel.connection.close_channel(channel)
    assert channel.connection is None
    try:
        received[0].ack()
    finally:
        # What kombu's exit finalizer would do (the closed channel can no
        # longer close()), run now while the test database still exists: at
        # exit it logged a failed query against the dropped tables.
        channel.qos.restore_unacked_once()
