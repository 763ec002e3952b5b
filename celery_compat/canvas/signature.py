"""Signatures: a task call as a dict, and turning dicts back into the right class."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .._state import get_current_app

if TYPE_CHECKING:
    from ..app import Celery

#: ``subtask_type`` → class, filled by :meth:`Signature.register_type`.
_TYPES: dict[str, type[Signature]] = {}


def _uuid() -> str:
    from ..task import uuid4

    return uuid4()


class Signature(dict):
    """A call of a task: ``{'task', 'args', 'kwargs', 'options', 'subtask_type', 'immutable'}``.

    Partial arguments given when it is called are prepended to ``args``
    (not for an immutable signature, ``task.si()``), keyword arguments and
    options are merged over its own.
    """

    _app: Celery | None = None

    def __init__(self, task: Any = None, args: Any = None, kwargs: Any = None, options: Any = None,
                 type: Any = None, subtask_type: str | None = None, immutable: bool = False,
                 app: Celery | None = None, **ex: Any) -> None:
        self._app = app
        if isinstance(task, dict):
            super().__init__(task)
            return
        self._type = type
        name = task if isinstance(task, str) else getattr(task, "name", None)
        if name is None:
            raise TypeError(f"signature task must be a task or its name, not {task!r}")
        if type is None and not isinstance(task, str):
            self._type = task
        super().__init__(
            task=name,
            args=tuple(args or ()),
            kwargs=dict(kwargs or {}),
            options=dict(options or {}, **ex),
            subtask_type=subtask_type,
            immutable=immutable,
        )

    @classmethod
    def register_type(cls, name: str | None = None) -> Callable[[type[Signature]], type[Signature]]:
        """Class decorator: signatures whose ``subtask_type`` is ``name`` become this class."""
        def register(klass: type[Signature]) -> type[Signature]:
            _TYPES[name or klass.__name__] = klass
            return klass

        return register

    @classmethod
    def from_dict(cls, d: dict[str, Any], app: Celery | None = None) -> Signature:
        """The signature ``d`` describes, as the class of its ``subtask_type``."""
        klass = _TYPES.get(d.get("subtask_type") or "")
        if klass is not None and klass is not cls:
            return klass.from_dict(d, app=app)
        return Signature(dict(d), app=app)

    # -- fields ----------------------------------------------------------------

    @property
    def task(self) -> str:
        return self["task"]

    name = task

    @property
    def args(self) -> tuple[Any, ...]:
        return tuple(self.get("args") or ())

    @property
    def kwargs(self) -> dict[str, Any]:
        return self.setdefault("kwargs", {}) if self.get("kwargs") is not None else {}

    @property
    def options(self) -> dict[str, Any]:
        return self.setdefault("options", {})

    @property
    def immutable(self) -> bool:
        return bool(self.get("immutable"))

    @property
    def subtask_type(self) -> str | None:
        return self.get("subtask_type")

    @property
    def id(self) -> str | None:
        return self.options.get("task_id")

    @property
    def parent_id(self) -> str | None:
        return self.options.get("parent_id")

    @property
    def root_id(self) -> str | None:
        return self.options.get("root_id")

    @property
    def app(self) -> Celery:
        return self._app or get_current_app()

    @property
    def type(self) -> Any:
        cached = getattr(self, "_type", None)
        return cached if cached is not None else self.app.tasks[self.task]

    # -- building ----------------------------------------------------------------

    def _merge(self, args: Any = None, kwargs: Any = None, options: Any = None) -> tuple[Any, Any, Any]:
        options = dict(self.options, **{k: v for k, v in (options or {}).items() if v is not None})
        if self.immutable:
            return self.args, self.kwargs, options
        return (
            tuple(args or ()) + self.args,  # partial args are prepended
            dict(self.kwargs, **(kwargs or {})),
            options,
        )

    def clone(self, args: Any = None, kwargs: Any = None, **opts: Any) -> Signature:
        """A copy, with partial ``args`` prepended and ``kwargs``/options merged."""
        new_args, new_kwargs, new_options = self._merge(args, kwargs, opts)
        # deepcopy of an empty dict still costs about 1 us: a group clones every task.
        sig = Signature(self.task, new_args, new_kwargs, copy.deepcopy(new_options) if new_options else {},
                        subtask_type=self.subtask_type, immutable=self.immutable, app=self._app)
        sig._type = getattr(self, "_type", None)
        return sig

    partial = clone

    def __deepcopy__(self, memo: dict[int, Any]) -> Signature:
        new = type(self).from_dict(copy.deepcopy(dict(self), memo), app=self._app)
        if type(new) is Signature:
            new._type = getattr(self, "_type", None)
        return new

    def replace(self, args: Any = None, kwargs: Any = None, options: Any = None) -> Signature:
        """A copy with ``args``, ``kwargs`` or ``options`` replaced (not merged)."""
        sig = copy.deepcopy(self)
        if args is not None:
            sig["args"] = tuple(args)
        if kwargs is not None:
            sig["kwargs"] = dict(kwargs)
        if options is not None:
            sig["options"] = dict(options)
        return sig

    def flatten_links(self) -> list[Signature]:
        """This signature and every signature linked from it, depth first."""
        found: list[Signature] = [self]
        for link in self.options.get("link") or ():
            found.extend(maybe_signature(link, app=self._app).flatten_links())
        return found

    def reprcall(self, *args: Any, **kwargs: Any) -> str:
        """``name(args, kwargs)`` of a call with these partial arguments."""
        args, kwargs, _ = self._merge(args, kwargs)
        text = ", ".join([*(repr(a) for a in args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        return f"{self.task}({text})"

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        """Update the options (and immutability); returns ``self``."""
        if immutable is not None:
            self["immutable"] = immutable
        self.options.update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        self["immutable"] = immutable

    def link(self, callback: Any) -> Any:
        """Apply ``callback`` with this task's result when it succeeds."""
        return self._append_to_list_option("link", callback)

    def link_error(self, errback: Any) -> Any:
        """Call ``errback`` when this task fails."""
        return self._append_to_list_option("link_error", errback)

    def _append_to_list_option(self, key: str, value: Any) -> Any:
        # As Celery: a callback equal to one already linked is not linked twice.
        items = self.options.setdefault(key, [])
        if not isinstance(items, list):
            items = self.options[key] = list(items) if isinstance(items, tuple) else [items]
        if value not in items:
            items.append(value)
        return value

    def on_error(self, errback: Any) -> Signature:
        self.link_error(errback)
        return self

    def freeze(self, _id: str | None = None, group_id: str | None = None, chord: Any = None,
               root_id: str | None = None, parent_id: str | None = None, group_index: int | None = None,
               **kwargs: Any) -> Any:
        """Fix the task id (and place in a workflow) now; returns the result to be.

        As Celery's: a signature that already has a ``task_id`` keeps it
        (``_id`` is only used when it has none, else a new id), and a
        ``group_id`` it already has is kept; ``root_id``/``parent_id`` and
        ``chord`` replace its own when given, ``group_index`` when not None.
        Freezing twice gives the same id.
        """
        opts = self.options
        task_id = opts.get("task_id")
        if not task_id:
            task_id = opts["task_id"] = _id or _uuid()
        if root_id:
            opts["root_id"] = root_id
        if parent_id:
            opts["parent_id"] = parent_id
        opts.setdefault("reply_to", self.app.thread_oid)
        if group_id and "group_id" not in opts:
            opts["group_id"] = group_id
        if chord:
            opts["chord"] = chord
        if group_index is not None:
            opts["group_index"] = group_index
        return self.app.AsyncResult(task_id)

    # -- calling -------------------------------------------------------------------

    def apply_async(self, args: Any = None, kwargs: Any = None, route_name: str | None = None, **options: Any) -> Any:
        """Publish the call (partial ``args`` prepended); returns its ``AsyncResult``."""
        args, kwargs, options = self._merge(args, kwargs, options)
        app = self.app
        try:
            task = self.type
        except KeyError:
            task = None
        if task is None:
            return app.send_task(self.task, args, kwargs, route_name=route_name, **options)
        return task.apply_async(args, kwargs, **options)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Run the call here and now; returns an ``EagerResult``."""
        args, kwargs, options = self._merge(args, kwargs, options)
        for key in ("chain", "chord"):
            options.pop(key, None)
        return self.type.apply(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs, _ = self._merge(args, kwargs)
        return self.type(*args, **kwargs)

    def __or__(self, other: Any) -> Any:
        from .workflows import chain

        if isinstance(other, chain):
            # As Celery: the right-hand chain's steps are copied, this one is not.
            return chain(self, *(task.clone() for task in other.tasks), app=self._app)
        if isinstance(other, Signature):
            return chain(self, other, app=self._app)
        return NotImplemented

    def stamp(self, visitor: Any = None, append_stamps: bool = False, **headers: Any) -> None:
        """Celery 5.3's stamping: not implemented here.

        Raises:
            NotImplementedError: always; pass ``headers={...}`` to ``apply_async`` (they reach
                ``task.request.headers``), or set options with :meth:`set`.
        """
        raise NotImplementedError(
            f"{self.task}.stamp(): signature stamping (Celery 5.3+ StampingVisitor) is not implemented by "
            f"celery_compat; pass headers={{...}} to apply_async() instead (they reach task.request.headers)"
        )

    stamp_links = stamp

    def __invert__(self) -> Any:
        """``~sig``: apply and wait for the result."""
        return self.apply_async().get()

    def __repr__(self) -> str:
        args = ", ".join([*(repr(a) for a in self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())])
        return f"{self.task}({args})"


def _sigs(tasks: Iterable[Any], app: Celery | None) -> list[Signature]:
    return [maybe_signature(t, app=app) for t in tasks]


def _root(result: Any) -> Any:
    """The first result of a result's ``parent`` line (where a chain links the previous step)."""
    while result.parent is not None:
        result = result.parent
    return result


# -- helpers -------------------------------------------------------------------


def signature(varies: Any, *args: Any, **kwargs: Any) -> Signature:
    """A ``Signature`` (of the class of its ``subtask_type``) from a task, its name, or a dict."""
    app = kwargs.pop("app", None)
    if isinstance(varies, dict):
        if isinstance(varies, Signature) and app is None:
            return varies.clone()
        return Signature.from_dict(dict(varies), app=app)
    return Signature(varies, *args, app=app, **kwargs)


subtask = signature


def maybe_signature(d: Any, app: Celery | None = None, clone: bool = False) -> Any:
    """``d`` as a signature (a dict becomes one of the class of its ``subtask_type``); None stays None."""
    if d is None:
        return None
    if isinstance(d, dict) and not isinstance(d, Signature):
        d = Signature.from_dict(d, app=app)
    elif isinstance(d, (list, tuple)):
        return [maybe_signature(item, app=app, clone=clone) for item in d]
    elif clone:
        d = d.clone()
    if app is not None and isinstance(d, Signature):
        d._app = app
    return d
