"""chunks, xmap, xstarmap, from_dict, clone, ``~sig``, Task.replace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from celery_compat import Celery, chain, chord, chunks, group, maybe_signature, signature, states
from celery_compat.canvas import Signature, xmap, xstarmap
from celery_compat.exceptions import ImproperlyConfigured
from celery_compat.testing import drain, start_worker
from tests.canvas.tasks import add, replace_with_add, replace_with_group, tsum

pytestmark = pytest.mark.django_db(transaction=True)


def test_xmap_xstarmap_and_task_shortcuts(app: Celery) -> None:
    r1 = xmap(tsum.s(), [[1, 2], [3, 4]]).delay()
    r2 = xstarmap(add.s(), [(1, 2), (3, 4)]).delay()
    r3 = add.starmap([(5, 5)]).delay()
    r4 = tsum.map([[1], [2, 3]]).delay()
    drain(app)
    assert r1.get(timeout=1) == [3, 7]
    assert r2.get(timeout=1) == [3, 7]
    assert r3.get(timeout=1) == [10]
    assert r4.get(timeout=1) == [1, 5]


def test_starmap_message_shape(app: Celery) -> None:
    sig = add.starmap([(1, 2)])
    assert sig["task"] == "celery.starmap"
    assert sig.args == () and sig.kwargs["it"] == [(1, 2)]
    assert sig.kwargs["task"]["task"] == add.name


def test_chunks(app: Celery) -> None:
    g = add.chunks([(i, i) for i in range(5)], 2).delay()
    assert len(g.results) == 3
    drain(app)
    assert g.get(timeout=1) == [[0, 2], [4, 6], [8]]
    assert isinstance(chunks(add.s(), [(1, 1)], 1).group(), group)


def test_from_dict_dispatches_on_subtask_type(app: Celery) -> None:
    c = chain(add.s(1, 1), add.s(2))
    g = group(add.s(1, 1), add.s(2, 2))
    h = chord([add.s(1, 1)], tsum.s())
    for sig, cls in ((c, chain), (g, group), (h, chord)):
        back = signature(json.loads(json.dumps(sig)), app=app)
        assert type(back) is cls
        assert json.loads(json.dumps(back)) == json.loads(json.dumps(sig))
    ch = Signature.from_dict(json.loads(json.dumps(chunks(add.s(), [(1, 1)], 1))), app=app)
    assert type(ch) is chunks
    assert maybe_signature(None) is None
    assert type(maybe_signature(dict(add.s(1, 1)), app=app)) is Signature


def test_from_dict_of_each_class_and_copies_keep_the_class(app: Celery) -> None:
    """chain and group share ``from_dict``/``tasks`` (a base class): dispatch still keys on ``subtask_type``."""
    import copy

    nested = chain(add.s(1, 1), group(add.s(1), chain(add.s(2), add.s(3))), tsum.s())
    wire = json.loads(json.dumps(nested))
    for build in (Signature.from_dict, chain.from_dict, signature, maybe_signature):
        back = build(wire, app=app)
        assert type(back) is chain
        assert [type(t) for t in back.tasks] == [Signature, chord]
        assert type(back.tasks[1].header.tasks[1]) is chain
    g = group(add.s(1, 1), chain(add.s(1), add.s(2)))
    for back in (group.from_dict(json.loads(json.dumps(g)), app=app), copy.deepcopy(g), g.clone()):
        assert type(back) is group and [type(t) for t in back.tasks] == [Signature, chain]
    partial = chain(add.s(1), add.s(2)).clone((5,))
    assert type(partial) is chain and partial.args == (5,)
    assert type(chord([add.s(1, 1)], tsum.s()).clone()) is chord


def test_workflows_take_the_app_of_their_first_task(app: Celery) -> None:
    """As Celery: a workflow of another (not current) app's tasks runs with that app's settings."""
    from celery_compat.result import EagerResult, GroupResult

    other = Celery("other", broker="django://", backend="django-db", set_as_current=False)
    other.conf.task_always_eager = True

    @other.task(name="other.add")
    def oadd(x: int, y: int) -> int:
        return x + y

    @other.task(name="other.tsum")
    def otsum(xs: list[int]) -> int:
        return sum(xs)

    try:
        r = chain(oadd.s(1, 1), oadd.s(2)).delay()
        assert isinstance(r, EagerResult) and r.get() == 4
        g = group(oadd.s(1, 1), oadd.s(2, 2)).delay()
        assert isinstance(g, GroupResult) and all(isinstance(x, EagerResult) for x in g.results)
        assert chord([oadd.s(1, 1), oadd.s(2, 2)], otsum.s()).delay().get() == 6
        assert chord([], otsum.s()).app is other
        assert chain(oadd.s(1, 1)).app is other and chain(add.s(1, 1)).app is app
    finally:
        other.close()


def test_clone_is_deep_and_freeze_fixes_ids(app: Celery) -> None:
    c = chain(add.s(1), add.s(2))
    copy_ = c.clone()
    copy_.tasks[0].set(countdown=5)
    assert "countdown" not in c.tasks[0].options
    r = c.freeze()
    assert c.tasks[-1].id == r.id and c.tasks[0].id == r.parent.id
    s = add.s(1)
    assert s.clone((2,)).args == (2, 1)
    assert add.si(1, 1).clone((2,)).args == (1, 1)
    g = group(add.s(1, 1), add.s(2, 2))
    gr = g.freeze()
    # As Celery's group.freeze(): the group's id reaches its tasks when it is published, not here.
    assert [t.options.get("group_id") for t in g.tasks] == [None, None]
    assert [t.options["group_index"] for t in g.tasks] == [0, 1]
    assert [t.id for t in g.tasks] == [r.id for r in gr.results]


def test_invert_applies_and_waits(app: Celery) -> None:
    with start_worker(app, perform_ping_check=False):
        assert ~add.s(2, 2) == 4
        assert ~(add.s(1, 1) | add.s(1)) == 3


def test_z1_replace_keeps_the_callers_id(app: Celery) -> None:
    r = replace_with_add.delay(1)
    drain(app)
    assert r.get(timeout=1) == 101
    assert r.state == states.SUCCESS


def test_z1_replace_with_a_group_gives_the_list(app: Celery) -> None:
    r = replace_with_group.delay()
    drain(app)
    assert r.get(timeout=1) == [2, 3]


def test_replace_in_a_chain_and_in_a_chord(app: Celery) -> None:
    r = (replace_with_add.s(1) | add.s(1)).delay()
    h = chord([replace_with_add.s(1), add.s(1, 1)], tsum.s()).delay()
    drain(app)
    assert r.get(timeout=1) == 102
    assert h.get(timeout=1) == 103


def test_replace_by_a_chain_inside_a_chain_counts_the_nesting(app: Celery) -> None:
    """As Celery: every task of the replacing chain and the rest of the caller's chain get nesting + 1."""
    from tests.canvas.tasks import fields, replace_with_chain

    r = (replace_with_chain.s(1) | fields.s()).delay()
    plain = fields.delay()
    drain(app)
    last = r.get(timeout=1)
    replaced = r.parent.get(timeout=1)
    assert replaced["id"] == r.parent.id and replaced["args"] == [2] and replaced["nesting"] == 1
    assert last["args"] == [replaced] and last["nesting"] == 1
    assert plain.get(timeout=1)["nesting"] == 0


def test_replace_by_a_chain_ending_in_a_group_gives_the_list(app: Celery) -> None:
    from tests.canvas.tasks import replace_with_chain_to_group

    r = replace_with_chain_to_group.delay()
    drain(app)
    assert r.get(timeout=1) == [3, 4]


def test_on_replace_publishes_the_replacement_as_celery(app: Celery) -> None:
    """An ``on_replace`` override that does not call super publishes nothing (Celery's hook does it)."""
    from celery_compat import Task

    seen: list[Any] = []

    class Quiet(Task):
        def on_replace(self, sig: Any) -> Any:
            seen.append(sig)
            return "kept"

    @app.task(bind=True, base=Quiet, name="tests.canvas.quiet_replace")
    def quiet(self: Any) -> Any:
        return self.replace(add.s(1, 1))

    r = quiet.delay()
    drain(app)
    assert [s.task for s in seen] == [add.name]
    assert r.get(timeout=1) == "kept"


def test_replace_eager(eager_app: Celery) -> None:
    assert replace_with_add.delay(1).get() == 101


def test_replace_refuses_a_signature_in_a_chord(app: Celery) -> None:
    replace_with_add.push_request(id="x", called_directly=False)
    try:
        with pytest.raises(ImproperlyConfigured):
            replace_with_add.replace(add.s(1, 1).set(chord=tsum.s()))
        with pytest.raises(ImproperlyConfigured):
            replace_with_add.replace(chain())
    finally:
        replace_with_add.pop_request()


def test_construction_shapes_as_celery(app: Celery) -> None:
    c = chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s())
    assert [type(t) for t in c.tasks] == [Signature, chord]
    assert type(chain(add.s(1, 1), group(add.s(1))).tasks[-1]) is group
    assert type(group(add.s(1, 1)) | tsum.s()) is chord
    assert type(chain(group(add.s(1, 1)), tsum.s())) is chord
    assert len(group(group(add.s(1, 1), add.s(2, 2)), add.s(3, 3))) == 3
    assert chain().apply_async() is None
    assert add.s(1).reprcall(2) == f"{add.name}(2, 1)"
    assert add.s(1, 1).replace(args=(5,)).args == (5,)


def test_chord_errback_on_header_tasks_only_when_allowed(app: Celery) -> None:
    from tests.canvas.tasks import errback_old

    h = chord([add.s(1, 1)], tsum.s())
    h.link_error(errback_old.s())
    assert "link_error" not in h.header.tasks[0].options
    app.conf.task_allow_error_cb_on_chord_header = True
    h = chord([add.s(1, 1)], tsum.s())
    h.link_error(errback_old.s())
    assert h.header.tasks[0].options["link_error"] == [errback_old.s()]
    assert h.body.options["link_error"] == [errback_old.s()]


def test_builtin_tasks_under_celerys_names(app: Celery) -> None:
    for name in ("celery.accumulate", "celery.map", "celery.starmap", "celery.chunks", "celery.chord_unlock",
                 "celery.group", "celery.chord", "celery.chain", "celery.backend_cleanup", "celery.ping"):
        assert name in app.tasks
    assert app.tasks["celery.accumulate"](1, 2, index=0) == 1
    assert app.tasks["celery.accumulate"](1, 2) == (1, 2)
    assert app.tasks["celery.starmap"](dict(add.s()), [(1, 2)]) == [3]
    with pytest.raises(NotImplementedError):
        app.tasks["celery.chain"]()
    r = app.send_task("celery.chord", kwargs={"header": [dict(add.s(1, 1))], "body": dict(tsum.s())})
    drain(app)
    from celery_compat.models import TaskResult

    body_id = r.get(timeout=1)
    assert app.AsyncResult(body_id).get(timeout=1) == 2
    assert TaskResult.objects.filter(task_id=body_id).exists()


def test_eager_map_and_chunks(eager_app: Celery) -> None:
    assert add.starmap([(1, 2)]).delay().get() == [3]
    assert add.chunks([(1, 1), (2, 2), (3, 3)], 2).delay().get() == [[2, 4], [6]]


def test_stamping_is_refused_with_a_clear_error(app: Celery) -> None:
    for sig in (add.s(1, 1), chain(add.s(1, 1), add.s(2)), group(add.s(1, 1))):
        with pytest.raises(NotImplementedError, match="stamping .* not implemented by celery_compat"):
            sig.stamp(mystamp="x")
