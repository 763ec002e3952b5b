"""Chords on a real worker (celery-semantics §3) and eagerly."""

from __future__ import annotations

import pytest

from celery_compat import Celery, chord, group, states
from celery_compat.exceptions import ChordError
from celery_compat.models import ChordCounter
from celery_compat.result import GroupResult
from celery_compat.testing import drain
from tests.canvas import tasks
from tests.canvas.tasks import MyErr, add, boom, errback_new, tsum

pytestmark = pytest.mark.django_db(transaction=True)


def test_h1_success_and_parent_is_the_header(app: Celery) -> None:
    r = chord([add.s(1, 1), add.s(2, 2)])(tsum.s())
    counter = ChordCounter.objects.get()
    assert counter.group_id == r.parent.id and counter.count == 2
    drain(app)
    assert r.get(timeout=1) == 6
    assert isinstance(r.parent, GroupResult)
    assert r.parent.get(timeout=1) == [2, 4]
    assert not ChordCounter.objects.exists()


def test_group_or_task_is_a_chord(app: Celery) -> None:
    r = (group(add.s(1, 1), add.s(2, 2)) | tsum.s()).delay()
    drain(app)
    assert r.get(timeout=1) == 6


def test_h2_empty_header_calls_the_body_with_an_empty_list(app: Celery) -> None:
    r = chord([], tsum.s()).delay()
    drain(app)
    assert r.get(timeout=1) == 0


def test_h3_header_failure_fails_the_body_with_chord_error(app: Celery) -> None:
    tasks.ERRBACKS.clear()
    body = tsum.s()
    body.link_error(errback_new.s())
    r = chord([add.s(1, 1), boom.s()], body).delay()
    drain(app)
    assert r.parent.results[0].get(timeout=1) == 2
    assert r.state == states.FAILURE
    with pytest.raises(ChordError) as info:
        r.get(timeout=1, follow_parents=False)
    assert str(info.value) == repr(MyErr("boom", 42))
    assert tasks.ERRBACKS == [(r.id, repr(info.value), "ChordError")]
    assert not ChordCounter.objects.exists()


def test_h3_old_style_errbacks_of_the_body_are_sent_as_one_group(app: Celery) -> None:
    """As Celery's chord_error_from_stack: applied with the body's id, as one group, the body their parent."""
    from celery_compat.models import TaskResult

    body = tsum.s()
    body.link_error(tasks.fields.s("a"))  # bound: old-style, called fields(body_id, "a")
    body.link_error(tasks.fields.s("b"))
    r = chord([add.s(1, 1), boom.s()], body).delay()
    drain(app)
    assert r.state == states.FAILURE
    known = {r.id, *(part.id for part in r.parent.results)}
    rows = TaskResult.objects.exclude(task_id__in=known)
    found = sorted((app.AsyncResult(row.task_id).get(timeout=1) for row in rows), key=lambda f: f["args"][1])
    assert [f["args"] for f in found] == [[r.id, "a"], [r.id, "b"]]
    assert [f["parent_id"] for f in found] == [r.id, r.id]
    assert found[0]["group"] is not None and found[0]["group"] == found[1]["group"] != r.parent.id
    assert [f["group_index"] for f in found] == [0, 1]


def test_h3_group_body_fails_every_body_task(app: Celery) -> None:
    r = chord([boom.s()], group(tsum.s(), tsum.s())).delay()
    drain(app)
    for res in r.results:
        assert res.state == states.FAILURE


def test_h4_counter_rows_follow_the_header(app: Celery) -> None:
    r = chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], tsum.s()).delay()
    counter = ChordCounter.objects.get(group_id=r.parent.id)
    assert counter.count == 3
    assert [res.id for res in counter.group_result(app=app).results] == [res.id for res in r.parent.results]
    drain(app)
    assert r.get(timeout=1) == 12


def test_chord_partial_args_go_to_the_header(app: Celery) -> None:
    r = chord([add.s(1), add.s(2)], tsum.s()).delay(10)
    drain(app)
    assert r.get(timeout=1) == 23


def test_chord_then_task(app: Celery) -> None:
    r = (chord([add.s(1, 1), add.s(2, 2)], tsum.s()) | add.s(100)).delay()
    drain(app)
    assert r.get(timeout=1) == 106


def test_chord_with_chain_in_header(app: Celery) -> None:
    r = chord([add.s(1, 1) | add.s(1), add.s(5, 5)], tsum.s()).delay()
    drain(app)
    assert r.get(timeout=1) == 13


def test_eager_chord(eager_app: Celery) -> None:
    assert chord([add.s(1, 1), add.s(2, 2)])(tsum.s()).get() == 6
    eager_app.conf.task_eager_propagates = False
    with pytest.raises(MyErr):
        chord([add.s(1, 1), boom.s()], tsum.s()).delay()


def test_disabled_backend_refuses_chords(app: Celery) -> None:
    other = Celery("nobackend", broker="django://", backend="disabled")
    with pytest.raises(NotImplementedError):
        chord([add.s(1, 1)], tsum.s(), app=other).apply_async()


def test_failing_chain_in_the_header_still_counts_its_last_step(app: Celery) -> None:
    r = chord([add.s(1, 1) | boom.s() | add.s(1), add.s(2, 2)], tsum.s()).delay()
    drain(app)
    assert r.state == states.FAILURE
    with pytest.raises(ChordError):
        r.get(timeout=1, follow_parents=False)
    assert not ChordCounter.objects.exists()


def test_header_parts_with_ignore_result_still_count(app: Celery) -> None:
    """As in Celery: the part counts, then joining its missing result times out: ChordError."""
    app.conf.result_chord_join_timeout = 0.5
    r = chord([add.s(1, 1).set(ignore_result=True), add.s(2, 2)], tsum.s()).delay()
    drain(app)
    assert not ChordCounter.objects.exists()
    assert r.state == states.FAILURE
    assert isinstance(r.result, ChordError)


def test_nested_workflows(app: Celery) -> None:
    inner = chord([add.s(1, 1), add.s(2, 2)], tsum.s())
    outer = chord([inner, add.s(10, 10)], tsum.s()).delay()
    g = group(chord([add.s(1, 1), add.s(2, 2)], tsum.s()), add.s(1, 1), add.s(1, 1) | add.s(1)).delay()
    drain(app)
    assert outer.get(timeout=1) == 26
    assert g.get(timeout=1) == [6, 2, 3]
    assert not ChordCounter.objects.exists()
