"""The rows a publish writes: one at a time and in multi-row INSERTs, on every vendor.

A buffered publish (groups, ``celery_compat.bulk.publish_batch``) inserts
up to ``publish.BATCH_ROWS`` rows per statement, and on PostgreSQL sends
them as arrays (``unnest``) rather than a ``VALUES`` list: both must write
exactly what one publish per message writes, in publish order.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.utils import timezone
from kombu import Connection, Exchange, Producer, Queue

from kombu_transport_django import publish as publish_rows
from kombu_transport_django.models import Message

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)

FIELDS = ("queue", "priority", "status", "delivery_count", "task_id", "task_name", "dead_reason")
ETA = (timezone.now() + dt.timedelta(hours=2)).replace(microsecond=123456)


def _send(conn: Connection, count: int, tag: str) -> None:
    # "pb" has a message TTL (expires_at set), "pa" none (NULL); every fifth has an ETA.
    queues = [Queue("pa", Exchange("pa", "direct"), routing_key="pa"),
              Queue("pb", Exchange("pb", "direct"), routing_key="pb", message_ttl=3600)]
    producer = Producer(conn.default_channel)
    for n in range(count):
        queue = queues[n % 2]
        headers: dict[str, Any] = {"id": f"{tag}-{n}", "task": f"t.{n % 3}"}
        if n % 5 == 0:
            headers["eta"] = ETA.isoformat()
        producer.publish(
            {"n": n, "text": "quote ' backslash \\ brace {} comma , nul \x00 é"},
            exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue],
            priority=n % 4, headers=headers,
        )


def _rows(tag: str) -> list[tuple[Any, ...]]:
    """Each row's columns; times as what they mean (the rows are written at different instants)."""
    rows = Message.objects.filter(task_id__startswith=f"{tag}-").order_by("id")
    return [(*(getattr(r, f) for f in FIELDS),
             r.available_at if r.available_at != r.created_at else "now",
             r.expires_at and r.expires_at - r.created_at,
             _payload(r.payload, tag)) for r in rows]


def _payload(payload: str, tag: str) -> dict[str, Any]:
    message = json.loads(payload)
    message["properties"].pop("delivery_tag")  # given when a row is claimed
    return json.loads(json.dumps(message).replace(tag, "TAG"))


def test_buffered_publish_writes_the_rows_one_publish_each_writes_in_order(conn: Connection) -> None:
    count = publish_rows.BATCH_ROWS + 250  # two statements, the second partial
    _send(conn, count, "one")
    with conn.default_channel.buffered_publish():
        _send(conn, count, "many")
        assert not Message.objects.filter(task_id__startswith="many-").exists()  # at the block's end

    one, many = _rows("one"), _rows("many")
    assert len(many) == count
    assert [r[FIELDS.index("task_id")] for r in many] == [f"many-{n}" for n in range(count)]
    id_at = FIELDS.index("task_id")
    assert [r[:id_at] + r[id_at + 1:] for r in many] == [r[:id_at] + r[id_at + 1:] for r in one]
    assert {r[-3] for r in many} == {"now", ETA}
    assert {r[-2] for r in many} == {None, dt.timedelta(hours=1)}


def test_a_buffered_publish_of_one_message_and_of_none(conn: Connection) -> None:
    with conn.default_channel.buffered_publish():
        pass
    with conn.default_channel.buffered_publish():
        _send(conn, 1, "single")
    assert [r[FIELDS.index("task_id")] for r in _rows("single")] == ["single-0"]
