"""The transport contract, written once and run on every database vendor.

CI runs this module with DATABASE_URL set to SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

import pytest
from django.db import transaction
from django.utils import timezone
from kombu import Connection, Consumer, Exchange, Producer, Queue

from kombu_transport_django import leases
from kombu_transport_django.models import Message
from kombu_transport_django.models import Queue as QueueRow

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)

Publish = Callable[..., None]


def get(conn: Connection, name: str, **kwargs: Any) -> Any:
    """One message from queue ``name`` by basic_get, or None."""
    return conn.default_channel.basic_get(name, **kwargs)


def drain(conn: Connection, name: str, accept: list[str] | None = None) -> list[Any]:
    """Consume ``name`` until one empty drain; return the messages, acked."""
    received: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        received.append(body)
        message.ack()

    queue = Queue(name, Exchange(name, "direct"), routing_key=name)
    with Consumer(conn, [queue], callbacks=[on_message], accept=accept):
        while True:
            try:
                conn.drain_events(timeout=0.3)
            except TimeoutError:
                return received


def test_publish_consume_ack_round_trip(conn: Connection, publish: Publish) -> None:
    publish("rt", {"n": 1})
    publish("rt", {"n": 2})

    assert drain(conn, "rt") == [{"n": 1}, {"n": 2}]
    assert Message.objects.count() == 0


def test_ack_deletes_the_row_in_one_query(
    conn: Connection, publish: Publish, django_assert_num_queries: Any
) -> None:
    publish("ack1", "x")
    message = get(conn, "ack1")

    with django_assert_num_queries(1):
        message.ack()

    assert not Message.objects.filter(queue="ack1").exists()


def test_claimed_message_is_leased_to_its_channel(conn: Connection, publish: Publish) -> None:
    publish("lease1", "x")

    message = get(conn, "lease1")

    row = Message.objects.get(queue="lease1")
    assert row.status == Message.Status.LEASED
    assert row.lease_owner == conn.default_channel.token
    assert row.leased_until > timezone.now()
    assert row.delivery_count == 1
    assert message.delivery_info["redelivered"] is False
    assert get(conn, "lease1") is None  # nobody else gets it


def test_reject_with_requeue_releases_the_same_row(conn: Connection, publish: Publish) -> None:
    publish("requeue", "x")
    first = get(conn, "requeue")
    row_id = Message.objects.get(queue="requeue").id

    first.reject(requeue=True)
    again = get(conn, "requeue")

    assert again.payload == "x"
    assert again.delivery_info["redelivered"] is True
    assert list(Message.objects.values_list("id", flat=True)) == [row_id]  # no copy


def test_reject_without_requeue_keeps_the_message_as_dead(conn: Connection, publish: Publish) -> None:
    publish("reject", "x")

    get(conn, "reject").reject(requeue=False)

    row = Message.objects.get(queue="reject")
    assert row.status == Message.Status.DEAD
    assert "requeue=False" in row.dead_reason
    assert get(conn, "reject") is None
    assert conn.default_channel._size("reject") == 0


def test_size_counts_waiting_messages_and_purge_deletes_them(
    conn: Connection, publish: Publish
) -> None:
    for i in range(5):
        publish("sz", i)
    held = get(conn, "sz")

    assert conn.default_channel.queue_declare("sz", passive=True).message_count == 4
    assert conn.default_channel.queue_purge("sz") == 4
    assert conn.default_channel._size("sz") == 0
    held.ack()  # the leased one survived the purge
    assert Message.objects.count() == 0


def test_priorities_are_delivered_highest_first_then_in_order(
    conn: Connection, publish: Publish
) -> None:
    for n, priority in enumerate([0, 5, 9, 5, 0, 3]):
        publish("prio", {"n": n, "p": priority}, priority=priority)

    order = [body["n"] for body in drain(conn, "prio")]

    assert order == [2, 1, 3, 5, 0, 4]


def test_priority_reverse_delivers_zero_first(
    connection_factory: Callable[..., Connection],
) -> None:
    conn = connection_factory(priority_reverse=True)
    queue = Queue("rprio", Exchange("rprio", "direct"), routing_key="rprio")
    producer = Producer(conn.default_channel)
    for n, priority in enumerate([9, 0, 5]):
        producer.publish(n, exchange=queue.exchange, routing_key="rprio", declare=[queue], priority=priority)

    assert drain(conn, "rprio") == [1, 2, 0]


def test_eta_message_is_invisible_until_due(conn: Connection, publish: Publish) -> None:
    eta = timezone.now() + dt.timedelta(hours=1)
    publish("eta", "later", headers={"eta": eta.isoformat()})
    publish("eta", "now")

    assert drain(conn, "eta") == ["now"]
    row = Message.objects.get(queue="eta")
    assert abs((row.available_at - eta).total_seconds()) < 0.001

    Message.objects.filter(pk=row.pk).update(available_at=timezone.now())
    assert drain(conn, "eta") == ["later"]


def test_eta_with_another_offset_is_converted(conn: Connection, publish: Publish) -> None:
    eta = dt.datetime(2030, 1, 1, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    publish("eta-tz", "x", headers={"eta": eta.isoformat()})

    row = Message.objects.get(queue="eta-tz")
    assert row.available_at == dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.timezone.utc)


def test_publish_in_rolled_back_transaction_leaves_nothing(
    conn: Connection, publish: Publish
) -> None:
    publish("tx", "declared")  # declare outside, so only the message is at stake
    drain(conn, "tx")

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            publish("tx", "ghost")
            raise RuntimeError("roll back")
    with transaction.atomic():
        publish("tx", "kept")

    assert drain(conn, "tx") == ["kept"]


def test_lapsed_lease_is_redelivered_marked_redelivered(
    connection_factory: Callable[..., Connection], publish: Publish
) -> None:
    publish("crash", "x")
    dead = connection_factory()
    get(dead, "crash")  # claimed, never acked: its consumer "dies"
    Message.objects.filter(queue="crash").update(
        leased_until=timezone.now() - dt.timedelta(seconds=1)
    )

    assert leases.reap("default", timezone.now(), max_redeliveries=10) == (1, 0)
    other = connection_factory()
    message = get(other, "crash")

    assert message.payload == "x"
    assert message.delivery_info["redelivered"] is True
    assert not leases.ack("default", Message.objects.get().id, dead.default_channel.token)
    message.ack()
    assert Message.objects.count() == 0


def test_heartbeat_renews_leases_of_a_live_consumer(conn: Connection, publish: Publish) -> None:
    publish("slow", "x")
    get(conn, "slow")
    Message.objects.update(leased_until=timezone.now() - dt.timedelta(seconds=1))

    conn.transport._heartbeat.beat()

    row = Message.objects.get()
    assert row.status == Message.Status.LEASED
    assert row.leased_until > timezone.now()


def test_message_redelivered_too_often_is_kept_as_dead(
    conn: Connection, publish: Publish
) -> None:
    publish("poison", "x")
    get(conn, "poison")
    Message.objects.update(delivery_count=3, leased_until=timezone.now() - dt.timedelta(seconds=1))

    assert leases.reap("default", timezone.now(), max_redeliveries=3) == (0, 1)

    row = Message.objects.get()
    assert row.status == Message.Status.DEAD
    assert "max_redeliveries=3" in row.dead_reason


def test_closing_a_channel_gives_back_unacked_messages(
    connection_factory: Callable[..., Connection], publish: Publish
) -> None:
    publish("close", "x")
    first = connection_factory()
    get(first, "close")

    first.release()

    row = Message.objects.get()
    assert (row.status, row.lease_owner, row.delivery_count) == (Message.Status.READY, None, 0)
    assert get(connection_factory(), "close").payload == "x"


def test_undecodable_payload_is_set_aside_and_consumption_goes_on(
    conn: Connection, publish: Publish, caplog: pytest.LogCaptureFixture
) -> None:
    now = timezone.now()
    publish("bad", "before")
    Message.objects.create(queue="bad", payload="{not json", available_at=now, created_at=now)
    Message.objects.create(queue="bad", payload="[1, 2]", available_at=now, created_at=now)
    publish("bad", "after")

    with caplog.at_level(logging.ERROR, logger="kombu_transport_django"):
        assert drain(conn, "bad") == ["before", "after"]

    dead = list(Message.objects.dead().order_by("id"))
    assert len(dead) == 2
    assert all("not a kombu JSON message" in row.dead_reason for row in dead)
    assert caplog.text.count("set aside as dead") == 2


def test_content_type_the_consumer_refuses_is_set_aside(
    conn: Connection, publish: Publish
) -> None:
    publish("ct", "pickled", serializer="pickle")
    publish("ct", "fine", serializer="json")

    assert drain(conn, "ct", accept=["json"]) == ["fine"]

    row = Message.objects.dead().get()
    assert "application/x-python-serialize" in row.dead_reason
    assert "accept_content" in row.dead_reason


def test_fanout_copies_to_every_bound_queue_across_connections(
    connection_factory: Callable[..., Connection],
) -> None:
    exchange = Exchange("bcast", "fanout")
    a, b = connection_factory(), connection_factory()
    for conn, name in ((a, "fan-a"), (b, "fan-b")):
        Queue(name, exchange)(conn.default_channel).declare()

    # A third connection, like another process, knows none of the bindings.
    sender = connection_factory()
    Producer(sender.default_channel, exchange=exchange).publish({"hello": 1}, declare=[exchange])

    assert get(a, "fan-a").payload == {"hello": 1}
    assert get(b, "fan-b").payload == {"hello": 1}


def test_direct_exchange_routes_through_shared_bindings(
    connection_factory: Callable[..., Connection],
) -> None:
    exchange = Exchange("replies", "direct")
    listener = connection_factory()
    Queue("client-1.reply", exchange, routing_key="client-1")(listener.default_channel).declare()

    sender = connection_factory()
    Producer(sender.default_channel, exchange=exchange).publish(
        "pong", routing_key="client-1", declare=[exchange]
    )

    assert get(listener, "client-1.reply").payload == "pong"


def test_expiring_queue_is_deleted_when_unused(conn: Connection) -> None:
    Queue("tmp", Exchange("tmp-x", "fanout"), expires=10.0, message_ttl=300)(conn.default_channel).declare()
    row = QueueRow.objects.get(name="tmp")
    assert (row.expires_ms, row.message_ttl_ms) == (10000, 300000)

    leases.drop_expired("default", timezone.now() + dt.timedelta(seconds=11))

    assert not QueueRow.objects.filter(name="tmp").exists()


def test_message_ttl_drops_unconsumed_messages(conn: Connection) -> None:
    queue = Queue("ttl", Exchange("ttl", "direct"), routing_key="ttl", message_ttl=1)
    Producer(conn.default_channel).publish("x", exchange=queue.exchange, routing_key="ttl", declare=[queue])
    row = Message.objects.get()
    assert row.expires_at is not None

    assert leases.drop_expired("default", row.expires_at + dt.timedelta(seconds=1)) == 1
    assert Message.objects.count() == 0


def test_has_queue_and_queue_delete(conn: Connection, publish: Publish) -> None:
    channel = conn.default_channel
    publish("gone", "x")
    assert channel._has_queue("gone")

    channel.queue_delete("gone")

    assert not channel._has_queue("gone")
    assert Message.objects.count() == 0


def test_oversized_payload_is_refused_at_publish(
    connection_factory: Callable[..., Connection],
) -> None:
    from kombu_transport_django.transport import PayloadTooLarge

    conn = connection_factory(max_payload_bytes=1000)
    queue = Queue("big", Exchange("big", "direct"), routing_key="big")

    with pytest.raises(PayloadTooLarge, match="max_payload_bytes=1000"):
        Producer(conn.default_channel).publish("x" * 2000, exchange=queue.exchange, routing_key="big", declare=[queue])
    assert Message.objects.count() == 0


@pytest.mark.parametrize("where", ["queue", "exchange", "routing_key"])
def test_a_nul_byte_in_a_name_is_refused_naming_it(conn: Connection, where: str) -> None:
    """Plain kombu, no celery_compat: a NUL in a stored name is a clear ValueError on every database.

    On PostgreSQL it was ``DataError: PostgreSQL text fields cannot contain
    NUL (0x00) bytes`` from deep in the declare, naming neither the value nor
    the fix; SQLite and MariaDB stored it.
    """
    from kombu_transport_django.storable import NulByteError

    names = {"queue": "nul", "exchange": "nul", "routing_key": "nul"}
    names[where] = "bad\x00name"
    queue = Queue(names["queue"], Exchange(names["exchange"], "direct"), routing_key=names["routing_key"])

    with pytest.raises(NulByteError, match=r"'bad\\x00name' contains a NUL byte") as caught:
        Producer(conn.default_channel).publish("x", exchange=queue.exchange, routing_key=names["routing_key"],
                                               declare=[queue])
    assert isinstance(caught.value, ValueError)
    assert "remove the NUL" in str(caught.value)
    assert Message.objects.count() == 0
