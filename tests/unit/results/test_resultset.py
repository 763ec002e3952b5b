"""``ResultSet`` and ``GroupResult``: order, propagation, counts and timeouts (surface §3, semantics §9)."""

from __future__ import annotations

import pickle
import time
from typing import Any

import pytest

from celery_compat import states
from celery_compat.exceptions import TimeoutError
from celery_compat.result import AsyncResult, GroupResult, ResultSet

from .contract import write_later


class Boom(Exception):
    pass


def results(app: Any, *ids: str) -> list[AsyncResult]:
    return [AsyncResult(task_id, app=app) for task_id in ids]


def test_values_come_back_in_results_order_not_finishing_order(app: Any) -> None:
    app.backend.mark_as_done("c", 3)
    app.backend.mark_as_done("a", 1)
    thread = write_later(app.backend, 0.1, "b", 2, states.SUCCESS)
    try:
        assert ResultSet(results(app, "a", "b", "c"), app=app).get(timeout=10, interval=0.05) == [1, 2, 3]
    finally:
        thread.join()


def test_states_and_completed_count_counts_successes_only(app: Any) -> None:
    app.backend.mark_as_done("ok", 1)
    app.backend.mark_as_failure("bad", Boom("x"))
    app.backend.mark_as_revoked("rev", "revoked")
    finished = ResultSet(results(app, "ok", "bad", "rev"), app=app)
    mixed = ResultSet(results(app, "ok", "pending"), app=app)

    assert finished.ready() and not finished.waiting()
    assert finished.failed() and not finished.successful()
    assert finished.completed_count() == 1
    assert not mixed.ready() and mixed.waiting() and not mixed.failed()
    assert ResultSet(results(app, "ok"), app=app).successful()


def test_join_propagates_the_first_failure_in_order(app: Any) -> None:
    app.backend.mark_as_done("ok", 1)
    app.backend.mark_as_failure("bad", Boom("first"))
    app.backend.mark_as_revoked("rev", "revoked")
    rs = ResultSet(results(app, "ok", "bad", "rev"), app=app)

    with pytest.raises(Boom, match="first"):
        rs.join()
    values = rs.join(propagate=False)
    assert values[0] == 1 and isinstance(values[1], Boom) and str(values[2]) == "revoked"
    with pytest.raises(Boom):
        rs.maybe_throw()


def test_join_timeout_message(app: Any) -> None:
    app.backend.mark_as_done("ok", 1)
    group = GroupResult("g", results(app, "ok", "never"), app=app)
    started = time.monotonic()

    with pytest.raises(TimeoutError, match=r"^join operation timed out$"):
        group.get(timeout=0.2, interval=0.05)

    assert time.monotonic() - started < 2
    # Members that are ready are still read when the budget is spent.
    assert ResultSet(results(app, "ok"), app=app).join(timeout=0) == [1]


def test_join_with_a_callback_returns_nothing(app: Any) -> None:
    app.backend.mark_as_done("a", 1)
    app.backend.mark_as_done("b", 2)
    seen: list[tuple[str, Any]] = []

    assert ResultSet(results(app, "a", "b"), app=app).join(callback=lambda i, v: seen.append((i, v))) == []
    assert seen == [("a", 1), ("b", 2)]


def test_join_inside_a_task_is_refused(app: Any, in_worker_task: Any) -> None:
    app.backend.mark_as_done("a", 1)
    with in_worker_task(), pytest.raises(RuntimeError, match="Never call result.get"):
        ResultSet(results(app, "a"), app=app).get()


def test_membership(app: Any) -> None:
    a, b, c = results(app, "a", "b", "c")
    members = [a]
    rs = ResultSet(members, app=app)

    rs.add(b)
    rs.add(b)
    rs.update([b, c])
    assert rs.results is members and [r.id for r in rs] == ["a", "b", "c"]
    rs.remove("b")
    with pytest.raises(KeyError):
        rs.remove("b")
    rs.discard("b")
    assert len(rs) == 2 and rs[1] == "c"
    assert rs == ResultSet(results(app, "a", "c"), app=app)
    assert repr(rs) == "<ResultSet: [a, c]>"
    rs.clear()
    assert members == [] and rs.results is members


def test_forget_and_revoke_every_member(app: Any) -> None:
    app.backend.mark_as_done("a", 1)
    rs = ResultSet(results(app, "a", "b"), app=app)

    rs.forget()
    rs.revoke(terminate=True)

    assert app.backend.get_state("a") == states.PENDING
    assert app.control.revoked == [(["a", "b"], {"terminate": True})]


def test_then_fires_once_everything_is_seen_ready(app: Any) -> None:
    seen: list[Any] = []
    rs = ResultSet(results(app, "a"), app=app)
    rs.then(seen.append)
    assert not rs.ready() and seen == []

    app.backend.mark_as_done("a", 1)

    assert rs.ready() and seen == [rs]


def test_group_result_identity_and_tuple(app: Any) -> None:
    parent = AsyncResult("p", app=app)
    group = GroupResult("g", results(app, "a", "b"), parent=parent, app=app)

    assert group == "g" and str(group) == "g" and hash(group) == hash("g")
    assert group == GroupResult("g", results(app, "a", "b"), parent=parent, app=app)
    assert group != GroupResult("g", results(app, "a"), parent=parent, app=app)
    assert repr(group) == "<GroupResult: g [a, b]>"
    assert group.children is group.results
    assert group.as_tuple() == (("g", (("p", None), None)), [(("a", None), None), (("b", None), None)])
    assert bool(group) and not bool(GroupResult())
    clone = pickle.loads(pickle.dumps(group))
    assert clone.id == "g" and clone.results == group.results


def test_a_group_is_not_saved_unless_asked(app: Any) -> None:
    GroupResult("unsaved", results(app, "a"), app=app)

    assert GroupResult.restore("unsaved", app=app) is None
    assert GroupResult.restore("unsaved", backend=app.backend) is None
