"""``AsyncResult``: Celery's state, value, waiting and graph semantics (surface §3, semantics §4, §8, §9, §12)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import pytest

from celery_compat import _state, states
from celery_compat.exceptions import ImproperlyConfigured, IncompleteStream, TaskRevokedError, TimeoutError
from celery_compat.result import (
    E_WOULDBLOCK,
    AsyncResult,
    GroupResult,
    allow_join_result,
    assert_will_not_block,
    denied_join_result,
    result_from_tuple,
    set_join_will_block,
)


class Boom(Exception):
    pass


def test_id_is_required(app: Any) -> None:
    with pytest.raises(ValueError, match="AsyncResult requires valid id, not <class 'NoneType'>"):
        AsyncResult(None, app=app)  # type: ignore[arg-type]


def test_defaults_to_the_current_app_and_its_backend(app: Any) -> None:
    app.set_current()
    try:
        result = AsyncResult("x")
        assert result.app is app
        assert result.backend is app.backend
    finally:
        _state._set_current_app(None)  # type: ignore[arg-type]


def test_unknown_task_is_pending_forever(app: Any) -> None:
    result = AsyncResult("unknown", app=app)

    assert result.state == result.status == states.PENDING
    assert result.result is None and result.info is None
    assert (result.traceback, result.date_done, result.children) == (None, None, None)
    assert not result.ready() and not result.successful() and not result.failed()
    assert not result.exists()
    with pytest.raises(TimeoutError):
        result.get(timeout=0.05, interval=0.01)


def test_success(app: Any) -> None:
    app.backend.mark_as_done("ok", [1, 2])
    result = AsyncResult("ok", app=app)

    assert (result.state, result.result, result.get()) == (states.SUCCESS, [1, 2], [1, 2])
    assert result.ready() and result.successful() and not result.failed()
    assert result.date_done is not None
    assert result.task_id == "ok"
    assert result.exists()


def test_failure_raises_its_exception_unless_propagate_is_false(app: Any) -> None:
    app.backend.mark_as_failure("bad", Boom("boom", 42), traceback="tb")
    result = AsyncResult("bad", app=app)

    with pytest.raises(Boom) as caught:
        result.get()
    assert caught.value.args == ("boom", 42)
    value = result.get(propagate=False)
    assert isinstance(value, Boom) and value.args == ("boom", 42)
    assert result.failed() and result.ready() and not result.successful()
    assert result.traceback == "tb"


def test_revoked_raises_task_revoked_error(app: Any) -> None:
    app.backend.mark_as_revoked("rev", "revoked")

    with pytest.raises(TaskRevokedError, match="^revoked$"):
        AsyncResult("rev", app=app).get()
    assert not AsyncResult("rev", app=app).failed()


def test_timeout_error_is_celerys_with_celerys_message(app: Any) -> None:
    with pytest.raises(TimeoutError) as caught:
        AsyncResult("slow", app=app).get(timeout=0.1, interval=0.02)

    assert str(caught.value) == "The operation timed out."
    assert type(caught.value).__module__ == "celery_compat.exceptions"


def test_ignored_result_returns_none_at_once(app: Any) -> None:
    result = AsyncResult("ignored", app=app)
    result.ignored = True

    assert result.get(timeout=0) is None
    assert result.state == states.PENDING


def test_callback_receives_id_and_value(app: Any) -> None:
    app.backend.mark_as_done("cb", 5)
    seen: list[tuple[str, Any]] = []

    assert AsyncResult("cb", app=app).get(callback=lambda task_id, value: seen.append((task_id, value))) == 5
    assert seen == [("cb", 5)]


def test_on_message_is_refused_like_polling_backends_in_celery(app: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="Backend does not support on_message callback"):
        AsyncResult("m", app=app).get(on_message=print, timeout=0)


def test_on_interval_is_called_while_waiting(app: Any) -> None:
    calls: list[int] = []
    with pytest.raises(TimeoutError):
        AsyncResult("i", app=app).get(timeout=0.1, interval=0.02, on_interval=lambda: calls.append(1))

    assert calls


def test_get_re_raises_a_failed_parents_error_first(app: Any) -> None:
    app.backend.mark_as_failure("step1", Boom("parent failed"))
    app.backend.mark_as_done("step2", 2)
    result = AsyncResult("step2", app=app, parent=AsyncResult("step1", app=app))

    with pytest.raises(Boom, match="parent failed"):
        result.get()
    assert result.get(follow_parents=False) == 2
    assert result.get(propagate=False) == 2


def test_maybe_throw_and_forget(app: Any) -> None:
    app.backend.mark_as_failure("p", Boom("p"))
    app.backend.mark_as_done("c", 1)
    parent = AsyncResult("p", app=app)
    child = AsyncResult("c", app=app, parent=parent)

    with pytest.raises(Boom):
        parent.maybe_throw()
    assert isinstance(parent.maybe_throw(propagate=False), Boom)
    assert child.maybe_throw() == 1

    child.forget()

    assert app.backend.get_state("c") == app.backend.get_state("p") == states.PENDING
    assert child.state == states.PENDING


def test_equality_hash_str_repr(app: Any) -> None:
    result = AsyncResult("abc", app=app)

    assert result == "abc" and result == AsyncResult("abc", app=app) and result != "abd"
    assert hash(result) == hash("abc")
    assert str(result) == "abc"
    assert repr(result) == "<AsyncResult: abc>"
    assert {result: 1}["abc"] == 1
    assert copy.copy(result) == result


def test_as_tuple_and_as_list_follow_parents(app: Any) -> None:
    first = AsyncResult("a", app=app)
    second = AsyncResult("b", app=app, parent=first)
    third = AsyncResult("c", app=app, parent=second)

    assert third.as_tuple() == (("c", (("b", (("a", None), None)), None)), None)
    assert third.as_list() == ["c", "b", "a"]


def test_result_from_tuple_round_trips_results_and_groups(app: Any) -> None:
    group = GroupResult("g", [AsyncResult("g1", app=app), AsyncResult("g2", app=app)], app=app,
                       parent=AsyncResult("before", app=app))
    chained = AsyncResult("after", app=app, parent=AsyncResult("first", app=app))

    assert result_from_tuple(chained.as_tuple(), app=app).as_list() == ["after", "first"]
    restored = result_from_tuple(group.as_tuple(), app=app)
    assert isinstance(restored, GroupResult) and restored == group
    # JSON turns the tuples into lists: still readable.
    as_json = [["g", [["before", None], None]], [[["g1", None], None], [["g2", None], None]]]
    assert result_from_tuple(as_json, app=app) == group
    assert result_from_tuple(chained, app=app) is chained


def test_custom_state_is_not_ready_and_info_is_its_meta(app: Any) -> None:
    app.backend.store_result("prog", {"current": 1, "total": 2}, "PROGRESS")
    result = AsyncResult("prog", app=app)

    assert result.state == "PROGRESS" and result.info == {"current": 1, "total": 2}
    assert not result.ready()
    app.backend.mark_as_done("prog", 3)
    assert result.get() == 3


def test_then_fires_when_the_result_is_seen_ready(app: Any) -> None:
    seen: list[Any] = []
    result = AsyncResult("later", app=app)
    result.then(seen.append)
    assert result.state == states.PENDING and seen == []

    app.backend.mark_as_done("later", 1)

    assert result.get() == 1
    assert seen == [result]


def test_revoke_asks_app_control(app: Any) -> None:
    AsyncResult("r", app=app).revoke()
    AsyncResult("r2", app=app).revoke(terminate=True, signal="SIGKILL", wait=True, timeout=2)

    assert app.control.revoked == [
        ("r", {"terminate": False}),
        ("r2", {"terminate": True, "signal": "SIGKILL", "reply": True, "timeout": 2}),
    ]


# -- the graph of children --------------------------------------------------------------------


def _tree(app: Any) -> AsyncResult:
    root = app.backend
    leaf_request = type("R", (), {"children": [AsyncResult("leaf", app=app)]})()
    root.mark_as_done("mid", "mid-value", request=leaf_request)
    root.mark_as_done("leaf", "leaf-value")
    top_request = type("R", (), {"children": [AsyncResult("mid", app=app)]})()
    root.mark_as_done("top", "top-value", request=top_request)
    return AsyncResult("top", app=app)


def test_iterdeps_collect_and_get_leaf(app: Any) -> None:
    top = _tree(app)

    assert [(p and p.id, n.id) for p, n in top.iterdeps()] == [(None, "top"), ("top", "mid"), ("mid", "leaf")]
    assert [(r.id, v) for r, v in top.collect()] == [("top", "top-value"), ("mid", "mid-value"),
                                                      ("leaf", "leaf-value")]
    assert top.get_leaf() == "leaf-value"


def test_iterdeps_stops_at_an_unfinished_node(app: Any) -> None:
    request = type("R", (), {"children": [AsyncResult("running", app=app)]})()
    app.backend.mark_as_done("top", 1, request=request)
    top = AsyncResult("top", app=app)

    with pytest.raises(IncompleteStream):
        list(top.iterdeps())
    assert [n.id for _, n in top.iterdeps(intermediate=True)] == ["top", "running"]


# -- get() inside a task --------------------------------------------------------------------


def test_get_inside_a_worker_task_raises_celerys_runtime_error(app: Any, in_worker_task: Callable[..., Any]) -> None:
    app.backend.mark_as_done("done", 1)
    with in_worker_task():
        with pytest.raises(RuntimeError) as caught:
            AsyncResult("done", app=app).get()
        assert AsyncResult("done", app=app).get(disable_sync_subtasks=False) == 1
        with allow_join_result():
            assert AsyncResult("done", app=app).get() == 1
        with pytest.raises(RuntimeError):
            AsyncResult("done", app=app).get()

    assert str(caught.value) == (
        "Never call result.get() within a task!\n"
        "See https://docs.celeryq.dev/en/latest/userguide/tasks.html#avoid-launching-synchronous-subtasks\n"
    )
    assert AsyncResult("done", app=app).get() == 1


def test_an_eager_task_may_wait_unless_denied(app: Any, in_worker_task: Callable[..., Any]) -> None:
    app.backend.mark_as_done("done", 1)
    with in_worker_task(is_eager=True):
        assert AsyncResult("done", app=app).get() == 1
        with denied_join_result(), pytest.raises(RuntimeError, match="Never call result.get"):
            AsyncResult("done", app=app).get()


def test_the_worker_can_deny_waits_for_the_whole_process(app: Any) -> None:
    set_join_will_block(True)
    try:
        with pytest.raises(RuntimeError, match="Never call result.get"):
            assert_will_not_block()
        with allow_join_result():
            assert_will_not_block()
    finally:
        set_join_will_block(False)
    assert_will_not_block()


def test_allow_join_result_is_per_thread(app: Any, in_worker_task: Callable[..., Any]) -> None:
    errors: list[BaseException] = []

    def other_thread() -> None:
        with in_worker_task():
            try:
                assert_will_not_block()
            except RuntimeError as exc:
                errors.append(exc)

    with allow_join_result():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()

    assert len(errors) == 1 and str(errors[0]) == E_WOULDBLOCK
