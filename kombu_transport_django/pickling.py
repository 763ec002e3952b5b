"""Frozen slotted dataclasses that cross a process pipe for every task, pickled as a plain tuple.

A frozen dataclass with ``slots=True`` pickles through ``__getstate__`` and
``__setstate__`` that call ``dataclasses.fields()`` on every call: about
twice the cost of a tuple of its values for the job a prefork child gets
and the outcome it sends back (docs/benchmarks.md). The tuple is read from
the class's own fields, so a field added later travels too.
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import Any, TypeVar

T = TypeVar("T")


def pickled_as_tuple(cls: type[T]) -> type[T]:
    """Class decorator (outside ``@dataclass``): pickle instances as ``cls(*values of its fields)``."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if len(names) < 2:
        raise TypeError(f"{cls.__name__} has {len(names)} field(s): attrgetter would not give a tuple")
    values = attrgetter(*names)

    def __reduce__(self: Any) -> tuple[Any, ...]:
        return (cls, values(self))

    cls.__reduce__ = __reduce__  # type: ignore[method-assign, assignment]
    return cls
