"""Exceptions to and from Celery's result dict, checked against Celery's own backend code.

``real_backend.prepare_exception`` / ``exception_to_python`` are what real
Celery runs when it stores or reads a failed task's result (JSON serializer).
Every dict goes through JSON in between, as it does in a database.
"""

from __future__ import annotations

import json
import os
import sys
from types import ModuleType
from typing import Any

import pytest

from celery_compat import exceptions
from celery_compat.utils.serialization import (
    UnpickleableExceptionWrapper,
    exception_from_dict,
    exception_to_dict,
)


class MyErr(Exception):
    pass


class Outer:
    class Inner(Exception):
        pass


class Weird(Exception):
    """Stores "code=3" in args but its constructor wants a keyword."""

    def __init__(self, *, code: int) -> None:
        super().__init__(f"code={code}")


def through_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


def our_twin(real_exc: BaseException) -> BaseException:
    """Our exception of the same class name, built with the same args."""
    return getattr(exceptions, type(real_exc).__name__)(*real_exc.args)


def celery_errors(real_exceptions: ModuleType) -> list[BaseException]:
    import billiard.exceptions

    return [
        real_exceptions.NotRegistered("nope.nope"),
        real_exceptions.TaskRevokedError("expired"),
        real_exceptions.TimeoutError("The operation timed out."),
        real_exceptions.MaxRetriesExceededError("Can't retry t[id] args:() kwargs:{}"),
        real_exceptions.ChordError("Dependency x raised ValueError('y')"),
        real_exceptions.Reject("bad", True),
        real_exceptions.Ignore(),
        real_exceptions.QueueNotFound("q"),
        real_exceptions.ImproperlyConfigured("x"),
        real_exceptions.BackendStoreError("x"),
        real_exceptions.WorkerShutdown(1),
        billiard.exceptions.SoftTimeLimitExceeded(),
        billiard.exceptions.TimeLimitExceeded(3.0),
        billiard.exceptions.WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL) Job: 3."),
        billiard.exceptions.Terminated(15),
    ]


def test_user_exceptions_are_written_like_celery(real_backend: Any) -> None:
    for exc in [MyErr("boom", 42), Outer.Inner("x"), ValueError("v"), KeyError("k"), Weird(code=3)]:
        assert through_json(exception_to_dict(exc)) == through_json(real_backend.prepare_exception(exc))
    assert exception_to_dict(Outer.Inner("x"))["exc_type"] == "Outer.Inner"
    expected = {"exc_type": "MyErr", "exc_message": ["boom", 42], "exc_module": __name__}
    assert exception_to_dict(MyErr("boom", 42)) == expected


def test_unencodable_args_are_written_as_their_repr_like_celery(real_backend: Any) -> None:
    exc = MyErr("boom", object(), {1, 2})
    assert through_json(exception_to_dict(exc)) == through_json(real_backend.prepare_exception(exc))
    assert exception_to_dict(exc)["exc_message"][2] == "{1, 2}"


def test_our_celery_errors_are_written_under_celerys_module_names(
    real_backend: Any, real_exceptions: ModuleType
) -> None:
    for real_exc in celery_errors(real_exceptions):
        ours = exception_to_dict(our_twin(real_exc))
        assert through_json(ours) == through_json(real_backend.prepare_exception(real_exc)), real_exc
    assert exception_to_dict(exceptions.TimeLimitExceeded(3.0))["exc_module"] == "billiard.exceptions"
    retry = exceptions.Retry(exc=MyErr("flaky"), when=0.2)
    real_retry = real_exceptions.Retry(exc=MyErr("flaky"), when=0.2)
    assert through_json(exception_to_dict(retry)) == through_json(real_backend.prepare_exception(real_retry))


def test_celery_reads_what_we_write_as_its_own_classes(real_backend: Any, real_exceptions: ModuleType) -> None:
    for real_exc in celery_errors(real_exceptions):
        read = real_backend.exception_to_python(through_json(exception_to_dict(our_twin(real_exc))))
        assert type(read) is type(real_exc) and read.args == real_exc.args


def test_we_read_what_celery_writes_as_our_classes(real_backend: Any, real_exceptions: ModuleType) -> None:
    for real_exc in celery_errors(real_exceptions):
        read = exception_from_dict(through_json(real_backend.prepare_exception(real_exc)))
        assert type(read) is getattr(exceptions, type(real_exc).__name__)
        assert read.args == real_exc.args
    read = exception_from_dict(through_json(real_backend.prepare_exception(real_exceptions.NotRegistered("x"))))
    assert isinstance(read, KeyError) and repr(read) == repr(real_exceptions.NotRegistered("x"))


def test_user_exceptions_round_trip_both_ways(real_backend: Any) -> None:
    for exc in [MyErr("boom", 42), Outer.Inner("x"), ValueError("v")]:
        ours = exception_from_dict(through_json(real_backend.prepare_exception(exc)))
        theirs = real_backend.exception_to_python(through_json(exception_to_dict(exc)))
        for read in (ours, theirs):
            assert type(read) is type(exc) and read.args == exc.args


def test_retry_round_trips_like_celery(real_backend: Any, real_exceptions: ModuleType) -> None:
    stored = through_json(exception_to_dict(exceptions.Retry(exc=MyErr("flaky"), when=0.2)))
    ours, theirs = exception_from_dict(stored), real_backend.exception_to_python(stored)
    assert type(ours) is exceptions.Retry and type(theirs) is real_exceptions.Retry
    assert str(ours) == str(theirs)


STORED: list[dict[str, Any]] = [
    # Module never imported here: a made-up class in celery.exceptions.
    {"exc_type": "Boom", "exc_message": ["b", 1], "exc_module": "no.such.module"},
    # Imported module, missing class.
    {"exc_type": "Missing", "exc_message": ["m"], "exc_module": __name__},
    {"exc_type": "Outer.Missing", "exc_message": ["m"], "exc_module": __name__},
    # No module at all.
    {"exc_type": "Bare", "exc_message": ["b"]},
    {"exc_type": "Bare", "exc_message": ["b"], "exc_module": None},
    # A message that is not a list is one argument.
    {"exc_type": "MyErr", "exc_message": "single", "exc_module": __name__},
    {"exc_type": "MyErr", "exc_module": __name__},
    # Constructor refuses the stored args.
    {"exc_type": "Weird", "exc_message": ["code=3"], "exc_module": __name__},
    {"exc_type": "Weird", "exc_message": ("code=3",), "exc_module": __name__},
    {"exc_type": "Weird", "exc_message": "code=3", "exc_module": __name__},
    # Nested class.
    {"exc_type": "Outer.Inner", "exc_message": ["x"], "exc_module": __name__},
]


def describe(exc: BaseException) -> tuple[str, str, tuple[Any, ...], str]:
    return (type(exc).__qualname__, type(exc).__module__, exc.args, str(exc))


@pytest.mark.parametrize("stored", STORED, ids=repr)
def test_reading_matches_celery(real_backend: Any, stored: dict[str, Any]) -> None:
    assert describe(exception_from_dict(stored)) == describe(real_backend.exception_to_python(stored))


def test_unknown_classes_are_made_up_under_celery_exceptions() -> None:
    exc = exception_from_dict({"exc_type": "Boom", "exc_message": ["b"], "exc_module": "no.such.module"})
    assert (type(exc).__name__, type(exc).__module__, exc.args) == ("Boom", "celery.exceptions", ("b",))
    assert type(exc).__bases__ == (Exception,)
    # Written back, it keeps the name it was read with.
    assert exception_to_dict(exc) == {"exc_type": "Boom", "exc_message": ["b"], "exc_module": "celery.exceptions"}


def test_a_constructor_that_refuses_the_args_gives_a_plain_exception() -> None:
    exc = exception_from_dict({"exc_type": "Weird", "exc_message": ["code=3"], "exc_module": __name__})
    assert type(exc) is Exception
    assert str(exc) == f"<class '{__name__}.Weird'>(['code=3'])"
    exc = exception_from_dict({"exc_type": "Weird", "exc_message": ("code=3",), "exc_module": __name__})
    assert str(exc) == f"<class '{__name__}.Weird'>(('code=3',))"


def test_reading_never_imports_a_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "json.tool", raising=False)
    exc = exception_from_dict({"exc_type": "JSONDecodeError", "exc_message": ["m"], "exc_module": "json.tool"})
    assert "json.tool" not in sys.modules
    assert type(exc).__module__ == "celery.exceptions"


@pytest.mark.parametrize(
    "stored",
    [
        {"exc_module": "os", "exc_type": "system", "exc_message": "echo pwned"},
        {"exc_module": "builtins", "exc_type": "eval", "exc_message": ["1+1"]},
        {"exc_module": "os", "exc_type": "path.join", "exc_message": ["a"]},
        {"exc_module": __name__, "exc_type": "Outer", "exc_message": []},
    ],
    ids=repr,
)
def test_a_non_exception_target_is_a_security_error_like_celery(
    real_backend: Any, real_exceptions: ModuleType, stored: dict[str, Any]
) -> None:
    with pytest.raises(real_exceptions.SecurityError) as theirs:
        real_backend.exception_to_python(stored)
    with pytest.raises(exceptions.SecurityError) as ours:
        exception_from_dict(stored)
    assert str(ours.value) == str(theirs.value)
    assert str(ours.value).startswith("Expected an exception class, got ")


def test_a_security_error_does_not_run_the_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    with pytest.raises(exceptions.SecurityError, match="got os.system with payload echo pwned"):
        exception_from_dict({"exc_module": "os", "exc_type": "system", "exc_message": "echo pwned"})
    assert calls == []


def test_a_dict_without_exc_type_is_refused() -> None:
    with pytest.raises(ValueError, match="Exception information must include the exception type"):
        exception_from_dict({"exc_message": ["m"], "exc_module": "x"})
    with pytest.raises(ValueError, match="exc_type must be a class name .*, got None"):
        exception_from_dict({"exc_type": None, "exc_message": ["m"], "exc_module": "x"})


def test_unpicklable_wrapper_round_trips_with_celery(real_backend: Any) -> None:
    wrapper = UnpickleableExceptionWrapper("tasks", "KwErr", ("m",), "KwErr('m')")
    stored = through_json(exception_to_dict(wrapper))
    assert stored["exc_module"] == "celery.utils.serialization"
    theirs = real_backend.exception_to_python(stored)
    assert type(theirs).__name__ == "UnpickleableExceptionWrapper" and str(theirs) == "KwErr('m')"
    ours = exception_from_dict(through_json(real_backend.prepare_exception(theirs)))
    assert type(ours) is UnpickleableExceptionWrapper and str(ours) == "KwErr('m')"
    restored = ours.restore()
    assert (type(restored).__name__, type(restored).__module__, restored.args) == ("KwErr", "tasks", ("m",))
