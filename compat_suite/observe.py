"""Normalisers: what a user can observe, without ids and times.

``exc(e)`` → ``(type name, args)``, where the type name is the module's last
part plus the qualified name for the zoo's errors and Celery's own (so
``celery.exceptions.TimeoutError`` and ``celery_compat.exceptions.
TimeoutError`` both read ``exceptions.TimeoutError``), and the bare name for
builtins. ``ids(value, names)`` replaces known ids by their role names.
"""

from __future__ import annotations

from typing import Any

#: modules whose classes are the same on both sides
_SAME = {
    "celery.exceptions": "exceptions", "celery_compat.exceptions": "exceptions",
    "billiard.exceptions": "exceptions", "kombu.exceptions": "kombu.exceptions",
}


def exc_type(e: BaseException | type) -> str:
    cls = e if isinstance(e, type) else type(e)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{_SAME.get(module, module)}.{cls.__qualname__}"


def exc(e: Any) -> Any:
    """An exception as ``(type, args)``; anything else unchanged."""
    if isinstance(e, BaseException):
        return (exc_type(e), tuple(normal(a) for a in e.args))
    return normal(e)


def normal(value: Any) -> Any:
    """Lists for tuples inside containers, exceptions via ``exc``."""
    if isinstance(value, BaseException):
        return exc(value)
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    return value


def ids(value: Any, names: dict[str, str]) -> Any:
    """Replace the ids in ``names`` (id → role) wherever they occur."""
    if isinstance(value, str):
        for id_, role in names.items():
            if id_:
                value = value.replace(id_, f"<{role}>")
        return value
    if isinstance(value, dict):
        return {ids(k, names): ids(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(ids(v, names) for v in value)
    return value


def raises(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; ``('returned', value)`` or ``('raised', exc(e))``."""
    try:
        return ("returned", normal(fn(*args, **kwargs)))
    except Exception as e:  # the observation is the exception
        return ("raised", exc(e))


def states_until_ready(result: Any, timeout: float = 10.0, interval: float = 0.02) -> list[str]:
    """The distinct states seen while polling until ready (order kept)."""
    import time

    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = result.state
        if not seen or seen[-1] != state:
            seen.append(state)
        # Readiness from the state just seen: a second read (ready()) could
        # find SUCCESS and stop before SUCCESS was ever recorded.
        if state in ("SUCCESS", "FAILURE", "REVOKED"):
            return seen
        time.sleep(interval)
    seen.append("<timeout>")
    return seen
