"""celery_compat.exceptions against celery.exceptions: names, MRO, constructors, str/repr."""

from __future__ import annotations

import inspect
import pickle
import sys
from collections.abc import Callable
from datetime import datetime
from functools import partial
from types import ModuleType
from typing import Any

import kombu.exceptions
import pytest

from celery_compat import exceptions

#: Where Celery's classes come from -> where ours live.
OUR_MODULE = {"celery.exceptions": "celery_compat.exceptions", "billiard.exceptions": "celery_compat.exceptions"}
#: In celery.exceptions but not ours: a click (CLI) exception; reraise is a function.
NOT_CLASSES = {"CeleryCommandException", "reraise"}
#: The same positional arguments go to both implementations.
ARGUMENT_SETS: list[tuple[Any, ...]] = [(), ("boom",), ("boom", 42), (None, True)]


class MyErr(Exception):
    pass


class KwErr(Exception):
    """Cannot be rebuilt from its args, so it does not pickle."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


class Lenient(Exception):
    pass


class StrictChild(Lenient):
    """Does not pickle, but its base does: Retry keeps a Lenient instead."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)


def class_names(real_exceptions: ModuleType) -> list[str]:
    names = [name for name in real_exceptions.__all__ if name not in NOT_CLASSES]
    return [*names, "RetryTaskError", "SystemTerminate"]


def mro_names(cls: type) -> list[tuple[str, str]]:
    return [(OUR_MODULE.get(c.__module__, c.__module__), c.__qualname__) for c in cls.__mro__]


def outcome(build: Callable[[], BaseException]) -> tuple[Any, ...]:
    """What an exception looks like: str, repr and args, or the error building it."""
    try:
        exc = build()
    except Exception as error:
        return ("raised", type(error).__name__, str(error))
    args = exc.args
    if isinstance(exc, exceptions.Retry) or type(exc).__name__ == "Retry":
        # Celery puts the Retry itself first in args.
        assert args[0] is exc
        args = args[1:]
    return (type(exc).__name__, str(exc), repr(exc), args)


def pickled(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    loaded: BaseException = pickle.loads(pickle.dumps(cls(*args)))
    return loaded


def test_exports_are_celerys_except_the_cli_error(real_exceptions: ModuleType) -> None:
    assert exceptions.__all__ == tuple(n for n in real_exceptions.__all__ if n != "CeleryCommandException")


def test_every_class_has_celerys_name_and_mro(real_exceptions: ModuleType) -> None:
    for name in class_names(real_exceptions):
        ours, theirs = getattr(exceptions, name), getattr(real_exceptions, name)
        assert ours.__name__ == theirs.__name__, name
        assert mro_names(ours) == mro_names(theirs), name


@pytest.mark.parametrize("args", ARGUMENT_SETS, ids=repr)
def test_every_class_builds_prints_and_pickles_like_celery(real_exceptions: ModuleType, args: tuple[Any, ...]) -> None:
    for name in class_names(real_exceptions):
        ours, theirs = getattr(exceptions, name), getattr(real_exceptions, name)
        assert outcome(partial(ours, *args)) == outcome(partial(theirs, *args)), name
        assert outcome(partial(pickled, ours, args)) == outcome(partial(pickled, theirs, args)), name


RETRIES: list[dict[str, Any]] = [
    {"exc": MyErr("flaky"), "when": 0.2},
    {"exc": MyErr("flaky"), "when": 3},
    {"exc": MyErr("flaky"), "when": datetime(2026, 1, 2, 3, 4, 5)},
    {"when": 0.2},
    {},
    {"message": "custom message", "exc": MyErr("x"), "when": 1},
    {"exc": "ValueError('as a string')", "when": 5},
    {"exc": KwErr("m", code=3), "when": 1},
    {"exc": StrictChild("m", code=3), "when": 1},
    {"exc": MyErr("x"), "when": 1, "is_eager": True, "sig": {"task": "t"}},
    {"unexpected": 1},
]


@pytest.mark.parametrize("kwargs", RETRIES, ids=repr)
def test_retry_matches_celery(real_exceptions: ModuleType, kwargs: dict[str, Any]) -> None:
    assert outcome(lambda: exceptions.Retry(**kwargs)) == outcome(lambda: real_exceptions.Retry(**kwargs))
    if "unexpected" in kwargs:
        return
    ours, theirs = exceptions.Retry(**kwargs), real_exceptions.Retry(**kwargs)
    assert (ours.message, ours.when, ours.is_eager, ours.sig, ours.excs) == (
        theirs.message,
        theirs.when,
        theirs.is_eager,
        theirs.sig,
        theirs.excs,
    )
    # Both keep a picklable stand-in for an exception that does not pickle.
    assert type(ours.exc).__name__ == type(theirs.exc).__name__
    assert str(ours.exc) == str(theirs.exc)
    assert str(pickle.loads(pickle.dumps(ours))) == str(pickle.loads(pickle.dumps(theirs)))


def test_retry_message_formats() -> None:
    assert str(exceptions.Retry(exc=MyErr("flaky"), when=0.2)) == "Retry in 0.2s: MyErr('flaky')"
    assert str(exceptions.Retry(when=datetime(2026, 1, 2))) == "Retry at 2026-01-02 00:00:00"
    assert exceptions.RetryTaskError is exceptions.Retry


def test_retry_replaces_an_unpicklable_exception_with_its_nearest_picklable_base() -> None:
    retry = exceptions.Retry(exc=StrictChild("m", code=3), when=1)
    assert type(retry.exc) is Lenient and retry.exc.args == ("m",)


@pytest.mark.parametrize("signature_of", ["Retry", "Reject"])
def test_constructor_parameters_are_celerys(real_exceptions: ModuleType, signature_of: str) -> None:
    ours = inspect.signature(getattr(exceptions, signature_of))
    theirs = inspect.signature(getattr(real_exceptions, signature_of))
    assert [(p.name, p.default) for p in ours.parameters.values()] == [
        (p.name, p.default) for p in theirs.parameters.values()
    ]


def test_reject_keeps_reason_and_requeue(real_exceptions: ModuleType) -> None:
    ours, theirs = exceptions.Reject("why", requeue=True), real_exceptions.Reject("why", requeue=True)
    assert repr(ours) == repr(theirs) == "reject requeue=True: why"
    assert (ours.reason, ours.requeue, ours.args) == (theirs.reason, theirs.requeue, theirs.args)
    assert exceptions.Reject().requeue is False


def test_not_registered_is_a_key_error_whose_repr_says_how_to_fix_it() -> None:
    exc = exceptions.NotRegistered("nope.nope")
    assert isinstance(exc, KeyError) and isinstance(exc, exceptions.TaskError)
    assert repr(exc) == "Task of kind 'nope.nope' never registered, please make sure it's imported."


def test_max_retries_exceeded_carries_the_task_arguments(real_exceptions: ModuleType) -> None:
    message = "Can't retry tasks.add[abc] args:(1,) kwargs:{}"
    ours = exceptions.MaxRetriesExceededError(message, task_args=[1], task_kwargs={"a": 2})
    theirs = real_exceptions.MaxRetriesExceededError(message, task_args=[1], task_kwargs={"a": 2})
    assert (ours.task_args, ours.task_kwargs, ours.args, repr(ours)) == (
        theirs.task_args,
        theirs.task_kwargs,
        theirs.args,
        repr(theirs),
    )
    bare = exceptions.MaxRetriesExceededError()
    assert (bare.task_args, bare.task_kwargs) == ([], {})


def test_backend_errors_show_their_task_id(real_exceptions: ModuleType) -> None:
    cases: list[tuple[str, tuple[Any, ...], dict[str, str]]] = [
        ("BackendGetMetaError", ("x",), {"task_id": "t1"}),
        ("BackendStoreError", ("y",), {"state": "FAILURE", "task_id": "t2"}),
    ]
    for name, args, kwargs in cases:
        ours = getattr(exceptions, name)(*args, **kwargs)
        theirs = getattr(real_exceptions, name)(*args, **kwargs)
        assert (repr(ours), str(ours), ours.args) == (repr(theirs), str(theirs), theirs.args)
    assert repr(exceptions.BackendStoreError("y", state="FAILURE", task_id="t2")) == (
        "BackendStoreError('y') state:FAILURE task_id:t2"
    )


def test_pool_errors_print_like_billiards() -> None:
    assert str(exceptions.TimeLimitExceeded(3.0)) == "TimeLimitExceeded(3.0,)"
    assert repr(exceptions.TimeLimitExceeded(3.0)) == "TimeLimitExceeded(3.0)"
    assert str(exceptions.SoftTimeLimitExceeded()) == "SoftTimeLimitExceeded()"


def test_timeout_error_is_celerys_not_the_builtin() -> None:
    assert not issubclass(exceptions.TimeoutError, TimeoutError)
    assert issubclass(exceptions.TimeoutError, exceptions.TaskError)


def test_worker_shutdown_errors_are_system_exits() -> None:
    assert issubclass(exceptions.WorkerShutdown, SystemExit)
    assert exceptions.SystemTerminate is exceptions.WorkerTerminate


def test_kombu_errors_are_kombus_own_classes() -> None:
    assert exceptions.OperationalError is kombu.exceptions.OperationalError
    assert exceptions.EncodeError is kombu.exceptions.EncodeError
    assert exceptions.DecodeError is kombu.exceptions.DecodeError


def test_reraise_raises_the_value_with_the_given_traceback() -> None:
    try:
        raise MyErr("first")
    except MyErr:
        tb = sys.exc_info()[2]
    value = MyErr("second")
    with pytest.raises(MyErr, match="second") as caught:
        exceptions.reraise(MyErr, value, tb)
    assert caught.value is value
    chain, current = [], caught.value.__traceback__
    while current is not None:
        chain.append(current)
        current = current.tb_next
    assert tb in chain
