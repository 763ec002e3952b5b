"""Message signing (transport option ``sign_messages``): forged rows never run.

The attacker here can write to the queue table but does not know the key:
they insert rows by hand, alter stored ones, move them between queues or
publish without signing. Each such message is set aside as dead with the
reason; every signed message is still delivered.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone
from kombu import Connection, Exchange, Producer, Queue

from kombu_transport_django import signing
from kombu_transport_django.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

Factory = Callable[..., Connection]


def send(conn: Connection, name: str, body: Any) -> None:
    queue = Queue(name, Exchange(name, "direct"), routing_key=name)
    Producer(conn.default_channel).publish(body, exchange=queue.exchange, routing_key=name, declare=[queue])


def drain(conn: Connection, name: str) -> list[Any]:
    """Every deliverable message of ``name``, acked.

    basic_get answers None when the row it claimed was set aside, so keep
    asking while ready rows remain.
    """
    received: list[Any] = []
    while Message.objects.ready().filter(queue=name).exists():
        message = conn.default_channel.basic_get(name)
        if message is not None:
            received.append(message.payload)
            message.ack()
    return received


def test_signed_messages_are_delivered_without_the_signature(connection_factory: Factory) -> None:
    conn = connection_factory(sign_messages=True)
    send(conn, "s1", {"n": 1})

    stored = json.loads(Message.objects.get().payload)
    assert stored[signing.SIGNATURE_KEY].startswith("v1:")

    message = conn.default_channel.basic_get("s1")
    assert message.payload == {"n": 1}
    assert signing.SIGNATURE_KEY not in message.properties
    message.ack()
    assert not Message.objects.exists()


def test_rows_written_without_the_key_are_set_aside(connection_factory: Factory) -> None:
    signer = connection_factory(sign_messages=True)
    unsigned = connection_factory()  # a publisher that does not sign
    send(signer, "s2", "good-1")
    send(unsigned, "s2", "unsigned")
    # Someone with INSERT on the table, copying the shape of a real message.
    forged = json.loads(Message.objects.order_by("id").first().payload)
    forged["body"] = "ImV2aWwi"  # base64 of '"evil"'
    now = timezone.now()
    Message.objects.create(queue="s2", payload=json.dumps(forged), available_at=now, created_at=now)
    forged[signing.SIGNATURE_KEY] = "v1:" + "0" * 64
    Message.objects.create(queue="s2", payload=json.dumps(forged), available_at=now, created_at=now)
    send(signer, "s2", "good-2")

    assert drain(signer, "s2") == ["good-1", "good-2"]

    reasons = list(Message.objects.dead().order_by("id").values_list("dead_reason", flat=True))
    assert len(reasons) == 3
    assert reasons[0].startswith("unsigned message refused")
    assert reasons[1].startswith("bad message signature")  # altered body, signature kept
    assert reasons[2].startswith("bad message signature")


def test_a_signed_message_moved_to_another_queue_is_refused(connection_factory: Factory) -> None:
    conn = connection_factory(sign_messages=True)
    send(conn, "harmless", "x")
    Queue("admin", Exchange("admin", "direct"), routing_key="admin")(conn.default_channel).declare()
    Message.objects.update(queue="admin")

    assert drain(conn, "admin") == []
    assert Message.objects.dead().get().dead_reason.startswith("bad message signature")


def test_headers_and_properties_are_covered(connection_factory: Factory) -> None:
    conn = connection_factory(sign_messages=True)
    send(conn, "s3", "x")
    row = Message.objects.get()
    stored = json.loads(row.payload)
    stored["headers"] = {"task": "proj.tasks.delete_everything"}
    row.payload = json.dumps(stored)
    row.save()

    assert drain(conn, "s3") == []
    assert Message.objects.dead().count() == 1


def test_wrong_key_is_refused_and_fallback_keys_still_verify(connection_factory: Factory) -> None:
    send(connection_factory(sign_messages=True, signing_key="other-key"), "s4", "foreign")
    with override_settings(SECRET_KEY="old-key"):
        send(connection_factory(sign_messages=True), "s4", "before-rotation")

    with override_settings(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["old-key"]):
        assert drain(connection_factory(sign_messages=True), "s4") == ["before-rotation"]
    assert Message.objects.dead().get().dead_reason.startswith("bad message signature")


def test_a_consumer_without_signing_still_reads_signed_messages(connection_factory: Factory) -> None:
    # Turning signing on is a rolling change: publishers first, then consumers.
    send(connection_factory(sign_messages=True), "s5", "x")
    assert drain(connection_factory(), "s5") == ["x"]


@pytest.mark.parametrize("options", [{"sign_messages": "yes"}, {"signing_key": ""}, {"signing_key": 5}])
def test_bad_signing_options_fail_at_connect(options: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured, match=next(iter(options))):
        Connection("django://", transport_options=options).connect()


@pytest.mark.parametrize("signs", [True, False], ids=["signing", "not-signing"])
def test_real_celery_publishing_through_django_transport(connection_factory: Factory, signs: bool) -> None:
    import kombu_transport_django  # noqa: F401  registers django://
    from celery import Celery as RealCelery

    real = RealCelery("real", broker="django://", set_as_current=False)
    real.conf.broker_transport_options = {"sign_messages": signs}
    try:
        real.send_task("proj.tasks.add", (2, 2), task_id="real-1")
    finally:
        real.close()

    consumer = connection_factory(sign_messages=True)
    got = drain(consumer, "celery")
    if signs:
        assert got == [[[2, 2], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]]
    else:
        assert got == []
        assert Message.objects.dead().get(task_id="real-1").dead_reason.startswith("unsigned message refused")
