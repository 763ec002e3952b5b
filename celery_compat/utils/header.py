"""A task function's "header": its parameters with an empty body, to check a call's arguments.

Celery checks ``delay()``/``apply_async()`` arguments against the task
function before publishing (``Task.typing``, on by default), and the error
is the one the function itself would raise: ``add() missing 1 required
positional argument: 'y'``. Calling a function that has the same
parameters gives exactly that message, and costs a plain call instead of
``inspect.Signature.bind``'s pure-Python matching.
"""

from __future__ import annotations

import inspect
import keyword
from typing import Any, Callable

#: the name every default value has in a header's source: only which
#: arguments may be left out matters, not their values
_DEFAULT = "_default"


class _Default:
    def __repr__(self) -> str:
        return _DEFAULT


def make_header(function: Callable[..., Any]) -> Callable[..., None] | None:
    """A function named and with parameters as ``function``, doing nothing; None if it has no Python signature.

    As Celery's check: the function's own parameters, not those of a function
    it wraps (``functools.wraps``), and a positional-only parameter may also
    be passed by name.
    """
    try:
        signature = inspect.signature(function, follow_wrapped=False)
    except (TypeError, ValueError):  # a builtin or a C callable: nothing to check against
        return None
    default = _Default()
    parameters = [
        p.replace(
            kind=p.POSITIONAL_OR_KEYWORD if p.kind is p.POSITIONAL_ONLY else p.kind,
            annotation=p.empty,
            default=p.empty if p.default is p.empty else default,
        )
        for p in signature.parameters.values()
    ]
    text = str(signature.replace(parameters=parameters, return_annotation=signature.empty))
    name = getattr(function, "__name__", "")
    if not name.isidentifier() or keyword.iskeyword(name):
        name = "run"  # a lambda: named as the method it serves
    namespace: dict[str, Any] = {_DEFAULT: None}
    # Source made only of the function's own parameter names and a fixed
    # default name: no value of the caller's goes into it.
    exec(f"def {name}{text}:\n    pass\n", namespace)  # noqa: S102
    return namespace[name]
