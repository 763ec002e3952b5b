"""Wire scenarios: published by one implementation, executed by the other,
results read by both (real Celery and celery_compat on one ``django://``)."""

from __future__ import annotations

import time

import pytest

from compat_suite.observe import exc, raises
from compat_suite.zoo import NOTES

DIRECTIONS = [("celery", "compat"), ("compat", "celery")]
IDS = ["celery-publishes-compat-runs", "compat-publishes-celery-runs"]


def read_by_both(wire, task_id, **get):
    """``get()`` of ``task_id`` through each implementation's AsyncResult."""
    out = {}
    for side in ("celery", "compat"):
        r = getattr(wire, side).app.AsyncResult(task_id)
        with getattr(wire, side).allow_join_result():
            outcome = raises(r.get, timeout=15, **get)
            out[side] = (r.state, outcome)
    return out


@pytest.mark.parametrize(("publisher", "executor"), DIRECTIONS, ids=IDS)
def test_task_crosses_over(wire, publisher, executor):
    pub, run = getattr(wire, publisher), getattr(wire, executor)
    r = pub.t.request_info.apply_async((1,), {"k": 2}, queue=run.q("default"))
    both = read_by_both(wire, r.id)
    assert both["celery"] == both["compat"]
    state, (how, info) = both["celery"]
    assert (state, how) == ("SUCCESS", "returned")
    assert (info["id"], info["root_id"], info["args"], info["kwargs"]) == (r.id, r.id, [1], {"k": 2})
    assert run.unq(info["routing_key"]) == "default"


@pytest.mark.parametrize(("publisher", "executor"), DIRECTIONS, ids=IDS)
def test_failure_crosses_over_with_its_type(wire, publisher, executor):
    pub, run = getattr(wire, publisher), getattr(wire, executor)
    r = pub.t.boom.apply_async(queue=run.q("default"))
    both = read_by_both(wire, r.id)
    expected = ("FAILURE", ("raised", ("compat_suite.errors.MyErr", ("boom", 42))))
    assert both == {"celery": expected, "compat": expected}


@pytest.mark.parametrize(("publisher", "executor"), DIRECTIONS, ids=IDS)
def test_retry_crosses_over(wire, publisher, executor):
    pub, run = getattr(wire, publisher), getattr(wire, executor)
    k = f"wire-retry-{publisher}-{time.time_ns()}"
    r = pub.t.retry_slow.apply_async((k, 2), queue=run.q("default"))
    both = read_by_both(wire, r.id)
    assert both == {"celery": ("SUCCESS", ("returned", 2)), "compat": ("SUCCESS", ("returned", 2))}
    assert NOTES[k] == [0, 1, 2]


@pytest.mark.parametrize(("publisher", "executor"), DIRECTIONS, ids=IDS)
def test_chain_alternates_implementations(wire, publisher, executor):
    pub, run = getattr(wire, publisher), getattr(wire, executor)
    t = pub.t
    # step 1 on the executor, step 2 on the publisher's side, step 3 on the executor
    c = pub.celery.chain(t.add.s(1, 1).set(queue=run.q("default")),
                         t.request_info.s().set(queue=pub.q("default")),
                         t.echo.s("last").set(queue=run.q("default")))
    r = c.apply_async()
    both = read_by_both(wire, r.id)
    assert both["celery"] == both["compat"]
    state, (how, value) = both["celery"]
    assert (state, how) == ("SUCCESS", "returned")
    info, rest = value[0][0], value[0][1:]
    assert rest == ["last"]
    assert info["args"] == [2] and pub.unq(info["routing_key"]) == "default"
    assert info["root_id"] == r.parent.parent.id and info["parent_id"] == r.parent.parent.id
    first = read_by_both(wire, r.parent.parent.id)
    assert first == {"celery": ("SUCCESS", ("returned", 2)), "compat": ("SUCCESS", ("returned", 2))}


@pytest.mark.parametrize(("publisher", "executor"), DIRECTIONS, ids=IDS)
def test_chain_failure_crosses_over(wire, publisher, executor):
    pub, run = getattr(wire, publisher), getattr(wire, executor)
    t = pub.t
    k = f"wire-chainfail-{publisher}-{time.time_ns()}"
    r = pub.celery.chain(t.add.s(1, 1).set(queue=pub.q("default")),
                         t.boom_key.s().set(queue=run.q("default")),
                         t.mark.si(k, "never").set(queue=pub.q("default"))).apply_async()
    both = read_by_both(wire, r.id)
    expected = ("FAILURE", ("raised", ("compat_suite.errors.MyErr", ("boom", 2))))
    assert both == {"celery": expected, "compat": expected}
    time.sleep(0.3)
    assert NOTES.get(k, []) == []


@pytest.mark.parametrize(("publisher", "executor"), DIRECTIONS, ids=IDS)
def test_chord_header_on_one_body_on_the_other(wire, publisher, executor):
    pub, run = getattr(wire, publisher), getattr(wire, executor)
    t = pub.t
    header = [t.add.s(1, 1).set(queue=run.q("default")), t.add.s(2, 2).set(queue=run.q("default"))]
    r = pub.celery.chord(header, t.tsum.s().set(queue=pub.q("default"))).apply_async()
    both = read_by_both(wire, r.id)
    assert both == {"celery": ("SUCCESS", ("returned", 6)), "compat": ("SUCCESS", ("returned", 6))}
    parts = [read_by_both(wire, child.id) for child in r.parent.results]
    assert [p["celery"] for p in parts] == [("SUCCESS", ("returned", 2)), ("SUCCESS", ("returned", 4))]
    assert [p["compat"] for p in parts] == [p["celery"] for p in parts]


@pytest.mark.parametrize(("publisher", "executor"), DIRECTIONS, ids=IDS)
def test_chord_header_failure_crosses_over(wire, publisher, executor):
    pub, run = getattr(wire, publisher), getattr(wire, executor)
    t = pub.t
    k = f"wire-chordfail-{publisher}-{time.time_ns()}"
    header = [t.add.s(1, 1).set(queue=run.q("default")), t.boom.s().set(queue=run.q("default"))]
    r = pub.celery.chord(header, t.mark.s(k).set(queue=pub.q("default"))).apply_async()
    both = read_by_both(wire, r.id, propagate=False)
    for side in ("celery", "compat"):
        state, (how, value) = both[side]
        assert (state, how, value[0]) == ("FAILURE", "returned", "exceptions.ChordError"), (side, both)
    time.sleep(0.3)
    assert NOTES.get(k, []) == []


@pytest.mark.parametrize(("publisher", "executor"), DIRECTIONS, ids=IDS)
def test_revoke_from_the_other_implementation(wire, publisher, executor):
    pub, run = getattr(wire, publisher), getattr(wire, executor)
    k = f"wire-revoke-{publisher}-{time.time_ns()}"
    r = run.t.mark.apply_async((k, "ran"), countdown=1.5, queue=run.q("default"))
    pub.app.control.revoke(r.id)
    both = read_by_both(wire, r.id)
    expected = ("REVOKED", ("raised", ("exceptions.TaskRevokedError", ("revoked",))))
    assert both == {"celery": expected, "compat": expected}
    time.sleep(2.0)
    assert NOTES.get(k, []) == []


def test_group_saved_by_one_restored_by_the_other(wire):
    t = wire.celery.t
    g = wire.celery.celery.group(t.add.s(1, 1), t.add.s(2, 2)).apply_async(queue=wire.compat.q("default"))
    g.save()
    restored = wire.compat.app.GroupResult.restore(g.id)
    assert [r.id for r in restored.results] == [r.id for r in g.results]
    assert restored.get(timeout=15) == [2, 4]
    assert exc(g.get(timeout=15)) == [2, 4]
