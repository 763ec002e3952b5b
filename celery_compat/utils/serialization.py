"""Exceptions as stored results: Celery's ``exc_type``/``exc_message``/``exc_module`` dict.

A failed task's result is stored, with the JSON serializer, as::

    {"exc_type": "MyErr", "exc_message": ["boom", 42], "exc_module": "tasks"}

:func:`exception_to_dict` writes that dict and :func:`exception_from_dict`
reads it back, with the rules of Celery's ``Backend.prepare_exception`` and
``Backend.exception_to_python``:

- our Celery-equivalent classes are written under Celery's module names
  (``celery.exceptions``, ``billiard.exceptions`` for the pool errors,
  ``celery.utils.serialization`` for :class:`UnpickleableExceptionWrapper`)
  and those names are read back as our classes, so ``isinstance`` checks work
  whichever implementation wrote the result;
- any other class is looked up in ``sys.modules`` only: reading a result
  never imports a module. An unknown class is replaced by a new ``Exception``
  subclass of the same name; a name that is not an exception class raises
  :class:`~celery_compat.exceptions.SecurityError`.

The module also has the helpers Celery uses to keep exceptions picklable
(``Retry.exc`` goes through :func:`get_pickleable_exception`).
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable, Iterable, Mapping
from inspect import getmro
from itertools import takewhile
from types import ModuleType
from typing import Any

from kombu.utils.encoding import safe_repr
from kombu.utils.json import dumps as json_dumps

from .. import exceptions

__all__ = (
    "exception_to_dict",
    "exception_from_dict",
    "create_exception_cls",
    "subclass_exception",
    "ensure_serializable",
    "find_pickleable_exception",
    "get_pickleable_exception",
    "get_pickled_exception",
    "UnpickleableExceptionWrapper",
)

#: Where Celery defines its errors, and where results say they come from.
CELERY_EXCEPTIONS_MODULE = "celery.exceptions"
#: Where Celery's pool errors come from (Celery re-exports billiard's classes).
BILLIARD_EXCEPTIONS_MODULE = "billiard.exceptions"
#: Where Celery defines :class:`UnpickleableExceptionWrapper`.
CELERY_SERIALIZATION_MODULE = "celery.utils.serialization"
#: Celery gives this module to the class it makes up for a dict without
#: ``exc_module`` (the module of ``Backend.exception_to_python``).
NO_MODULE_FALLBACK = "celery.backends.base"

#: The classes of ours that Celery takes from billiard.
_BILLIARD_NAMES = frozenset({"SoftTimeLimitExceeded", "TimeLimitExceeded", "WorkerLostError", "Terminated"})

#: Base classes not worth reducing an unpicklable exception to.
_UNWANTED_BASES = (Exception, BaseException, object)

Encoder = Callable[[Any], object]


def subclass_exception(name: str, parent: type[BaseException], module: str) -> type[BaseException]:
    """Create an exception class called ``name`` deriving from ``parent``, in ``module``."""
    return type(name, (parent,), {"__module__": module})


def create_exception_cls(name: str, module: str, parent: type[BaseException] | None = None) -> type[BaseException]:
    """Create an exception class called ``name`` in ``module`` (an ``Exception`` by default)."""
    return subclass_exception(name, parent or Exception, module)


def ensure_serializable(items: Iterable[Any], encoder: Encoder) -> tuple[Any, ...]:
    """Return ``items`` as a tuple, with each item ``encoder`` fails on replaced by its repr."""
    safe: list[Any] = []
    for item in items:
        try:
            encoder(item)
        except Exception:
            safe.append(safe_repr(item))
        else:
            safe.append(item)
    return tuple(safe)


class UnpickleableExceptionWrapper(Exception):
    """Stands in for an exception that cannot be pickled, nor reduced to a base that can.

    Holds the original module, class name, (picklable) args and repr;
    :meth:`restore` makes an exception of a new class with that name and module.
    """

    #: Module of the original exception.
    exc_module: str | None = None
    #: Class name of the original exception.
    exc_cls_name: str | None = None
    #: Arguments of the original exception, each made picklable.
    exc_args: tuple[Any, ...] | None = None

    def __init__(self, exc_module: str, exc_cls_name: str, exc_args: Iterable[Any], text: str | None = None) -> None:
        safe_args = ensure_serializable(exc_args, lambda value: pickle.loads(pickle.dumps(value)))
        self.exc_module = exc_module
        self.exc_cls_name = exc_cls_name
        self.exc_args = safe_args
        self.text = text
        super().__init__(exc_module, exc_cls_name, safe_args, text)

    def restore(self) -> BaseException:
        """Rebuild the exception as an instance of a new class with the original name."""
        return create_exception_cls(self.exc_cls_name or "Exception", self.exc_module or CELERY_EXCEPTIONS_MODULE)(
            *(self.exc_args or ())
        )

    def __str__(self) -> str:
        # Celery returns ``text`` unconditionally, so str() fails when it is None.
        return self.text if self.text is not None else super().__str__()

    @classmethod
    def from_exception(cls, exc: BaseException) -> UnpickleableExceptionWrapper:
        """Wrap ``exc``, keeping its traceback."""
        wrapper = cls(type(exc).__module__, type(exc).__name__, getattr(exc, "args", []), safe_repr(exc))
        return wrapper.with_traceback(exc.__traceback__)


def _pickles(obj: object) -> bool:
    try:
        pickle.loads(pickle.dumps(obj))
    except Exception:
        return False
    return True


def find_pickleable_exception(exc: BaseException) -> BaseException | None:
    """Rebuild ``exc`` from its args as the nearest class in its MRO that pickles.

    ``Exception`` and ``BaseException`` themselves are never used; returns
    ``None`` when no class qualifies.
    """
    args = getattr(exc, "args", [])
    for supercls in takewhile(lambda cls: cls not in _UNWANTED_BASES, getmro(type(exc))):
        try:
            candidate: BaseException = supercls(*args)
        except Exception:
            continue
        if _pickles(candidate):
            return candidate
    return None


def get_pickleable_exception(exc: BaseException) -> BaseException:
    """Return ``exc`` if it pickles, else a picklable stand-in.

    The stand-in is the nearest picklable base rebuilt from ``exc.args``, or
    failing that an :class:`UnpickleableExceptionWrapper`.
    """
    if _pickles(exc):
        return exc
    nearest = find_pickleable_exception(exc)
    if nearest is not None:
        return nearest
    return UnpickleableExceptionWrapper.from_exception(exc)


def get_pickled_exception(exc: BaseException) -> BaseException:
    """Undo :func:`get_pickleable_exception` for an :class:`UnpickleableExceptionWrapper`."""
    if isinstance(exc, UnpickleableExceptionWrapper):
        return exc.restore()
    return exc


def _wire_names(module: ModuleType) -> dict[type, tuple[str, str]]:
    """Map each exception class defined in ``module`` to Celery's (module, qualname)."""
    names: dict[type, tuple[str, str]] = {}
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
            home = BILLIARD_EXCEPTIONS_MODULE if obj.__name__ in _BILLIARD_NAMES else CELERY_EXCEPTIONS_MODULE
            names[obj] = (home, obj.__qualname__)
    return names


#: Our class -> the (exc_module, exc_type) real Celery writes for its twin.
WIRE_NAMES: dict[type, tuple[str, str]] = {
    **_wire_names(exceptions),
    UnpickleableExceptionWrapper: (CELERY_SERIALIZATION_MODULE, "UnpickleableExceptionWrapper"),
}
#: The reverse: what to build when a result names one of Celery's classes.
CLASSES_BY_WIRE_NAME: dict[tuple[str, str], type] = {name: cls for cls, name in WIRE_NAMES.items()}


def exception_to_dict(exc: BaseException, encode: Encoder = json_dumps) -> dict[str, Any]:
    """Describe ``exc`` as Celery stores exceptions with a non-pickle serializer.

    ``exc_message`` is ``list(exc.args)``, except that an argument ``encode``
    cannot serialize (JSON by default; pass the backend's encoder) is replaced
    by its repr, as Celery does. Our Celery-equivalent classes are written
    under Celery's module names.
    """
    cls = type(exc)
    exc_module, exc_type = WIRE_NAMES.get(cls) or (cls.__module__, getattr(cls, "__qualname__", cls.__name__))
    return {
        "exc_type": exc_type,
        "exc_message": list(ensure_serializable(exc.args, encode)),
        "exc_module": exc_module,
    }


def _find_class(exc_module: str | None, exc_type: str) -> Any:
    if exc_module is None:
        return create_exception_cls(exc_type, NO_MODULE_FALLBACK)
    known = CLASSES_BY_WIRE_NAME.get((exc_module, exc_type))
    if known is not None:
        return known
    try:
        # Only modules that are already imported: importing a module named by
        # stored data would let whoever writes results run import-time code.
        target: Any = sys.modules[exc_module]
        # exc_type is a qualname, e.g. "Outer.Inner" for a nested class.
        for name in exc_type.split("."):
            target = getattr(target, name)
    except (KeyError, AttributeError):
        return create_exception_cls(exc_type, CELERY_EXCEPTIONS_MODULE)
    return target


def exception_from_dict(data: Mapping[str, Any]) -> BaseException:
    """Rebuild the exception described by a dict from :func:`exception_to_dict` or real Celery.

    Returns ``cls(*exc_message)``; when the class refuses those arguments,
    returns ``Exception("<class 'mod.Name'>(<exc_message>)")`` like Celery.

    Raises:
        ValueError: ``data`` has no ``exc_type``, or it is not a string.
        SecurityError: ``exc_type`` names something that is not an exception
            class (e.g. ``os.system``): the stored result is not to be trusted.
    """
    try:
        exc_type = data["exc_type"]
    except KeyError:
        raise ValueError(
            f"Exception information must include the exception type; got keys {sorted(data)!r}, "
            f"expected exc_type, exc_message and exc_module"
        ) from None
    if not isinstance(exc_type, str):
        raise ValueError(f"exc_type must be a class name such as 'ValueError' or 'Outer.Inner', got {exc_type!r}")
    exc_module = data.get("exc_module")
    exc_message = data.get("exc_message", "")

    cls = _find_class(exc_module, exc_type)
    # Without this check a forged result such as {"exc_module": "os",
    # "exc_type": "system", "exc_message": ["rm -rf ..."]} would run a command.
    if not isinstance(cls, type) or not issubclass(cls, BaseException):
        named = exc_type if exc_module is None else f"{exc_module}.{exc_type}"
        raise exceptions.SecurityError(f"Expected an exception class, got {named} with payload {exc_message}")

    try:
        if isinstance(exc_message, (tuple, list)):
            return cls(*exc_message)
        return cls(exc_message)
    except Exception:
        # Celery formats the message with str(), not repr(): a JSON-decoded
        # message reads "<class 'mod.Weird'>(['code=3'])", a tuple "(('code=3',))".
        return Exception(f"{cls}({exc_message})")
