"""Names imported on first use, for the hot paths.

Modules that import each other, or that ``import celery_compat`` need not
load, are imported inside the functions that use them. A relative import
statement costs about 2.4 µs even when the module is loaded (the import
system compares ``__package__`` with ``__spec__.parent``, a Python property,
on every call); on a ``delay()`` or a stored result that is several percent.
:func:`imported` looks the name up once per process.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

__all__ = ["imported"]


@functools.cache
def imported(module: str, name: str) -> Any:
    """``from <module> import <name>`` (absolute module name), done once and remembered."""
    return getattr(importlib.import_module(module), name)
