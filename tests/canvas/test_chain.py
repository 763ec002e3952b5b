"""Chains on a real worker (celery-semantics §1) and eagerly."""

from __future__ import annotations

import pytest

from celery_compat import Celery, chain, states
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.canvas.tasks import MyErr, add, boom, errback_new, tsum
from tests.canvas import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_c1_result_passing_and_parents(app: Celery) -> None:
    r = chain(add.s(2, 2), add.s(4), add.si(10, 10)).delay()
    drain(app)
    assert r.get(timeout=1) == 20
    assert r.parent.get(timeout=1) == 8
    assert r.parent.parent.get(timeout=1) == 4
    assert r.parent.parent.parent is None


def test_c2_partial_args_go_to_the_first_task(app: Celery) -> None:
    r = chain(add.s(1), add.s(2)).delay(5)
    r2 = (add.s(1, 1) | add.s(1)).apply_async()
    drain(app)
    assert r.get(timeout=1) == 8
    assert r2.get(timeout=1) == 3


def test_c3_mid_chain_failure_fails_every_later_task_and_errback_fires_once(app: Celery) -> None:
    tasks.ERRBACKS.clear()
    c = chain(add.s(1, 1), boom.s(), add.s(5), add.s(6))
    c.link_error(errback_new.s())
    r = c.delay()
    assert drain(app) == 2
    assert r.parent.parent.parent.get(timeout=1) == 2
    for res in (r, r.parent, r.parent.parent):
        assert res.state == states.FAILURE
        with pytest.raises(MyErr) as info:
            res.get(timeout=1, propagate=True, follow_parents=False)
        assert info.value.args == ("boom", 42)
    assert [e[0] for e in tasks.ERRBACKS] == [r.parent.parent.id]


def test_c7_only_the_first_task_is_published_with_the_rest_embedded_reversed(app: Celery) -> None:
    r = (add.s(1, 1) | add.s(2) | add.si(3, 3)).apply_async()
    messages = list(Message.objects.all())
    assert len(messages) == 1
    from kombu_transport_django.models import Message as M  # noqa: F401
    import base64
    import json

    payload = json.loads(messages[0].payload)
    body = json.loads(base64.b64decode(payload["body"])) if payload["properties"].get("body_encoding") == "base64" \
        else json.loads(payload["body"])
    embedded = body[2]["chain"]
    assert [s["task"] for s in embedded] == ["tests.canvas.tasks.add", "tests.canvas.tasks.add"]
    assert embedded[0]["args"] == [3, 3] and embedded[0]["immutable"] is True
    assert embedded[0]["options"]["task_id"] == r.id
    assert embedded[1]["options"]["task_id"] == r.parent.id
    assert payload["headers"]["id"] == r.parent.parent.id
    # Frozen with reply_to, Celery's per-thread oid (also the message's reply_to property).
    assert [s["options"]["reply_to"] for s in embedded] == [app.thread_oid] * 2
    assert payload["properties"]["reply_to"] == app.thread_oid
    drain(app)
    assert r.get(timeout=1) == 6
    assert r.parent.get(timeout=1) == 4


def test_chain_link_goes_to_the_last_task(app: Celery) -> None:
    c = chain(add.s(1, 1), add.s(1))
    c.link(add.s(100))
    r = c.delay()
    drain(app)
    assert r.get(timeout=1) == 3
    [child] = r.children
    assert child.get(timeout=1) == 103


def test_c4_chain_ending_in_group(app: Celery) -> None:
    from celery_compat import group

    r = chain(add.s(1, 1), group(add.s(1), add.s(2))).delay()
    drain(app)
    assert r.get(timeout=1) == [3, 4]
    assert r.parent.get(timeout=1) == 2


def test_c5_task_group_task_is_upgraded_to_a_chord(app: Celery) -> None:
    from celery_compat import group

    r = chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).delay()
    drain(app)
    assert r.get(timeout=1) == 7


def test_c6_group_then_group_is_a_chord_with_a_group_body(app: Celery) -> None:
    from celery_compat import group

    r = (group(add.s(1, 1), add.s(2, 2)) | group(tsum.s(), tsum.s())).delay()
    drain(app)
    assert r.get(timeout=1) == [6, 6]


def test_eager_chain_and_failure_raises_out_of_delay(eager_app: Celery) -> None:
    r = chain(add.s(2, 2), add.s(4), add.si(10, 10)).delay()
    assert r.get() == 20
    assert r.parent.get() == 8
    eager_app.conf.task_eager_propagates = False
    with pytest.raises(MyErr):
        chain(add.s(1, 1), boom.s(), add.s(5)).delay()
