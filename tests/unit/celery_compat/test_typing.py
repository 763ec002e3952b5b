"""``delay()``'s argument check (``Task.typing``) against real Celery's, signature by signature.

Both apps run eagerly with an in-memory result store: a call that passes
the check runs at once, so the observation is either the ``TypeError``
raised at the call (its args) or the state the run ended in.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Callable

import pytest

from celery_compat import Celery, Task

MARKER = object()  # a default whose repr is no Python source


def plain(x, y):
    return x + y


def defaults(x, y=MARKER, *, z=[1], w: "Undefined" = None) -> int:  # noqa: B006, F821
    return x


def positional_only(a, /, b, *rest, c, d=1, **extra):
    return a


def keyword_only(*, key):
    return key


def _wrapper(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return wrapped


wrapped_plain = _wrapper(plain)


def bound(self, key):
    return key


CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("plain", (1,), {}),
    ("plain", (1, 2, 3), {}),
    ("plain", (1,), {"z": 3}),
    ("plain", (1,), {"x": 2}),
    ("plain", (1, 2), {}),
    ("defaults", (), {}),
    ("defaults", (1, 2, 3), {}),
    ("defaults", (1,), {"z": 2, "w": 3}),
    ("defaults", (1,), {"v": 2}),
    ("positional_only", (1, 2), {}),
    ("positional_only", (), {"a": 1, "b": 2, "c": 3}),
    ("positional_only", (1, 2, 3, 4), {"c": 5, "e": 6}),
    ("keyword_only", (1,), {}),
    ("keyword_only", (), {"key": 1}),
    ("wrapped_plain", (1,), {}),  # the wrapper's (*args, **kwargs) is checked: the run fails
    ("bound", (), {}),
    ("bound", (1, 2), {}),
    ("bound", (1,), {}),
]


def _observe(app: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
    task = app.tasks[f"typing.{name}"]
    try:
        result = task.apply_async(args, kwargs)
    except TypeError as exc:
        return ("raised", exc.args)
    return ("ran", result.state)


def _register(app: Any) -> None:
    for function in (plain, defaults, positional_only, keyword_only, wrapped_plain):
        app.task(name=f"typing.{function.__name__}")(function)
    app.task(name="typing.bound", bind=True)(bound)


@pytest.fixture(scope="module")
def apps() -> tuple[Any, Any]:
    celery = importlib.import_module("celery")
    settings = {"task_always_eager": True, "result_backend": "cache+memory://"}
    theirs = celery.Celery("typing-theirs", set_as_current=False, **settings)
    ours = Celery("typing-ours", set_as_current=False, **settings)
    wrapped_plain.__name__ = "wrapped_plain"  # its own name, for both apps' task names
    for app in (theirs, ours):
        _register(app)
    return theirs, ours


@pytest.mark.parametrize("name,args,kwargs", CALLS)
def test_the_check_raises_what_celery_raises(apps: tuple[Any, Any], name: str, args: tuple[Any, ...],
                                             kwargs: dict[str, Any]) -> None:
    theirs, ours = apps
    assert _observe(ours, name, args, kwargs) == _observe(theirs, name, args, kwargs)


def test_the_message_names_the_function_and_the_exception_is_not_wrapped(apps: tuple[Any, Any]) -> None:
    _, ours = apps
    with pytest.raises(TypeError) as raised:
        ours.tasks["typing.plain"].delay(1)
    assert raised.value.args == ("plain() missing 1 required positional argument: 'y'",)


def test_an_autoretry_task_is_checked_against_its_function(apps: tuple[Any, Any]) -> None:
    celery = importlib.import_module("celery")
    settings = {"task_always_eager": True, "result_backend": "cache+memory://"}
    observed = []
    for app in (celery.Celery("typing-retry-theirs", set_as_current=False, **settings),
                Celery("typing-retry-ours", set_as_current=False, **settings)):
        task = app.task(name="typing.retrying", autoretry_for=(ValueError,))(plain)
        try:
            task.delay(1)
        except TypeError as exc:
            observed.append(exc.args)
    assert observed == [("plain() missing 1 required positional argument: 'y'",)] * 2


def test_a_task_class_with_its_own_run_is_not_checked_as_in_celery() -> None:
    celery = importlib.import_module("celery")
    states = []
    for app, base in ((celery.Celery("typing-class-theirs", set_as_current=False), celery.Task),
                      (Celery("typing-class-ours", set_as_current=False), Task)):
        app.conf.update(task_always_eager=True, result_backend="cache+memory://")

        class Adder(base):  # type: ignore[misc, valid-type]
            name = "typing.adder"

            def run(self, x, y):
                return x + y

        task = app.register_task(Adder())
        states.append(task.delay(1).state)  # published and run: the run fails
    assert states == ["FAILURE", "FAILURE"]
