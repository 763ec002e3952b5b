"""Signatures: a task call as a dict, as Celery has it.

This is the part of the canvas that plain tasks need (``link``,
``link_error``, ``s()``/``si()``, ``signature()``). Chains, groups and chords
arrive with the canvas work; until then they raise ``NotImplementedError``
saying so, instead of behaving differently from Celery.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ._state import get_current_app

if TYPE_CHECKING:
    from .app import Celery


class Signature(dict):
    """``{'task', 'args', 'kwargs', 'options', 'subtask_type', 'immutable'}``."""

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
        return self.get("kwargs") or {}

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
        new_args, new_kwargs, new_options = self._merge(args, kwargs, opts)
        sig = Signature(self.task, new_args, new_kwargs, copy.deepcopy(new_options),
                        subtask_type=self.subtask_type, immutable=self.immutable, app=self._app)
        sig._type = getattr(self, "_type", None)
        return sig

    partial = clone

    def set(self, immutable: bool | None = None, **options: Any) -> Signature:
        if immutable is not None:
            self["immutable"] = immutable
        self.options.update(options)
        return self

    def set_immutable(self, immutable: bool) -> None:
        self["immutable"] = immutable

    def link(self, callback: Any) -> Any:
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Any) -> Any:
        self.options.setdefault("link_error", []).append(errback)
        return errback

    def on_error(self, errback: Any) -> Signature:
        self.link_error(errback)
        return self

    def freeze(self, _id: str | None = None, **kwargs: Any) -> Any:
        from .task import uuid4

        task_id = self.options.setdefault("task_id", _id or uuid4())
        return self.app.AsyncResult(task_id)

    # -- calling -------------------------------------------------------------------

    def apply_async(self, args: Any = None, kwargs: Any = None, route_name: str | None = None, **options: Any) -> Any:
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
        return self.apply_async(args, kwargs)

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        args, kwargs, options = self._merge(args, kwargs, options)
        return self.type.apply(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs, _ = self._merge(args, kwargs)
        return self.type(*args, **kwargs)

    def __or__(self, other: Any) -> Any:
        raise NotImplementedError("chains (|) are not built yet in celery_compat: see the canvas issue")

    def __repr__(self) -> str:
        args = ", ".join([*(repr(a) for a in self.args), *(f"{k}={v!r}" for k, v in self.kwargs.items())])
        return f"{self.task}({args})"


def signature(varies: Any, *args: Any, **kwargs: Any) -> Signature:
    """A ``Signature`` from a task, its name, or a signature dict."""
    app = kwargs.pop("app", None)
    if isinstance(varies, dict):
        if isinstance(varies, Signature) and app is None:
            return varies.clone()
        return Signature(dict(varies), app=app)
    return Signature(varies, *args, app=app, **kwargs)


subtask = signature


def maybe_signature(d: Any, app: Celery | None = None, clone: bool = False) -> Any:
    if d is None:
        return None
    if isinstance(d, dict) and not isinstance(d, Signature):
        d = Signature(dict(d), app=app)
    elif clone:
        d = d.clone()
    if app is not None:
        d._app = app
    return d


def _not_yet(name: str) -> Any:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{name} is not built yet in celery_compat: see the canvas issue")

    unavailable.__name__ = name
    return unavailable


chain = _not_yet("chain")
group = _not_yet("group")
chord = _not_yet("chord")
chunks = _not_yet("chunks")
xmap = _not_yet("xmap")
xstarmap = _not_yet("xstarmap")
