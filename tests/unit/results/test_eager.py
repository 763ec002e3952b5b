"""``EagerResult``: always ready, nothing stored (surface §3, semantics §11)."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from celery_compat import states
from celery_compat.exceptions import TaskRevokedError
from celery_compat.result import AsyncResult, EagerResult, denied_join_result


class Boom(Exception):
    pass


def test_success() -> None:
    result = EagerResult("e1", 3, states.SUCCESS, name="shop.add")

    assert result.ready() and result.successful() and not result.failed()
    assert (result.get(), result.result, result.state, result.status) == (3, 3, "SUCCESS", "SUCCESS")
    assert result.name == "shop.add"
    assert result.traceback is None and result.date_done is None and result.children is None
    assert repr(result) == "<EagerResult: e1>" and result == "e1"


def test_failure_raises_or_returns_the_exception() -> None:
    result = EagerResult("e2", Boom("x"), states.FAILURE, traceback="tb")

    with pytest.raises(Boom):
        result.get()
    assert isinstance(result.get(propagate=False), Boom)
    assert result.failed() and result.traceback == "tb"
    with pytest.raises(Boom):
        result.maybe_throw()


def test_a_non_exception_failure_is_raised_wrapped_in_exception() -> None:
    with pytest.raises(Exception, match="^not an exception$"):
        EagerResult("e3", "not an exception", states.FAILURE).get()


def test_other_states_return_none() -> None:
    assert EagerResult("e4", Exception("ignored"), states.IGNORED).get() is None


def test_revoke_only_changes_the_local_state_to_revoked() -> None:
    result = EagerResult("e5", 3, states.SUCCESS, traceback="tb")

    result.revoke()

    assert result.state == states.REVOKED and result.traceback is None
    with pytest.raises(TaskRevokedError, match="^revoked$"):
        result.get()


def test_nothing_is_stored(app: Any) -> None:
    EagerResult("e6", 3, states.SUCCESS).forget()

    assert AsyncResult("e6", app=app).state == states.PENDING


def test_then_fires_at_once() -> None:
    seen: list[Any] = []
    result = EagerResult("e7", 1, states.SUCCESS)

    result.then(seen.append)

    assert seen == [result]


def test_get_inside_a_task_is_refused_too(in_worker_task: Callable[..., Any]) -> None:
    result = EagerResult("e8", 1, states.SUCCESS)
    with denied_join_result(), pytest.raises(RuntimeError, match="Never call result.get"):
        result.get()
    with denied_join_result():
        assert result.get(disable_sync_subtasks=False) == 1


def test_pickle_and_copy_keep_everything() -> None:
    result = EagerResult("e9", [1], states.SUCCESS, traceback=None, name="n")

    for clone in (pickle.loads(pickle.dumps(result)), copy.copy(result)):
        assert (clone.id, clone.result, clone.state, clone.name) == ("e9", [1], "SUCCESS", "n")
