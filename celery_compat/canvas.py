"""The canvas: signatures, chains, groups, chords, chunks and maps, as Celery has them.

Every primitive is a dict (``{'task', 'args', 'kwargs', 'options',
'subtask_type', 'immutable'}``), so it travels in messages and comes back as
the same class through :func:`signature` / :meth:`Signature.from_dict`
(dispatch on ``subtask_type``).

How workflows run (protocol §3):

- a **chain** publishes its first task only; the rest travel in the
  message's ``embed.chain``, frozen (ids known in advance), reversed (the
  next step last); the worker publishes the next step after success, and
  stores the failure for every remaining id after a failure;
- a **group** publishes each child with ``group_id``/``group_index``;
- a **chord** creates a counter (``backend.apply_chord``) then publishes
  the header as a group whose children carry the body in ``embed.chord``;
  each header completion decrements the counter; the last one publishes
  the body with the header's results (see ``backends/database.py``).

A group followed by anything in a chain is upgraded to a chord, as in Celery.
"""

from __future__ import annotations

import copy
import itertools
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ._state import get_current_app

if TYPE_CHECKING:
    from .app import Celery

__all__ = [
    "Signature", "signature", "subtask", "maybe_signature", "chain", "group", "chord", "chunks",
    "xmap", "xstarmap",
]

#: ``subtask_type`` → class, filled by :meth:`Signature.register_type`.
_TYPES: dict[str, type[Signature]] = {}

#: Options that place a task inside a workflow: set by ``freeze``.
_FREEZE_KEYS = ("group_id", "chord", "group_index", "root_id", "parent_id")


def _uuid() -> str:
    from .task import uuid4

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
        sig = Signature(self.task, new_args, new_kwargs, copy.deepcopy(new_options),
                        subtask_type=self.subtask_type, immutable=self.immutable, app=self._app)
        sig._type = getattr(self, "_type", None)
        return sig

    partial = clone

    def __deepcopy__(self, memo: dict[int, Any]) -> Signature:
        new = type(self).from_dict(copy.deepcopy(dict(self), memo), app=self._app)
        if type(new) is Signature:
            new._type = getattr(self, "_type", None)
        return new

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
        self.options.setdefault("link", []).append(callback)
        return callback

    def link_error(self, errback: Any) -> Any:
        """Call ``errback`` when this task fails."""
        self.options.setdefault("link_error", []).append(errback)
        return errback

    def on_error(self, errback: Any) -> Signature:
        self.link_error(errback)
        return self

    def freeze(self, _id: str | None = None, group_id: str | None = None, chord: Any = None,
               root_id: str | None = None, parent_id: str | None = None, group_index: int | None = None,
               **kwargs: Any) -> Any:
        """Fix the task id (and place in a workflow) now; returns the result to be."""
        opts = self.options
        if _id:
            opts["task_id"] = _id
        task_id = opts.setdefault("task_id", _uuid())
        for key, value in zip(_FREEZE_KEYS, (group_id, chord, group_index, root_id, parent_id)):
            if value is not None:
                opts[key] = value
        return self.app.AsyncResult(task_id)

    def _placed(self, **options: Any) -> dict[str, Any]:
        return {k: options.get(k) for k in _FREEZE_KEYS if options.get(k) is not None}

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
        if isinstance(other, _chain):
            return _chain(self, *other.tasks, app=self._app)
        if isinstance(other, Signature):
            return _chain(self, other, app=self._app)
        return NotImplemented

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


# -- chain ---------------------------------------------------------------------


@Signature.register_type(name="chain")
class chain(Signature):
    """Tasks run one after the other, each given the previous one's result.

    ``chain(a, b, c)`` or ``a | b | c``. Nested chains are flattened; a
    group followed by another step becomes a chord.
    """

    def __init__(self, *tasks: Any, app: Celery | None = None, **options: Any) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], dict) and isinstance(tasks[0], Iterable):
            tasks = tuple(tasks[0])
        flat: list[Signature] = []
        for task in _sigs(tasks, app):
            flat.extend(task.tasks if isinstance(task, _chain) and not task.options else [task])
        Signature.__init__(self, "celery.chain", (), {"tasks": flat}, options, subtask_type="chain",
                           immutable=False, app=app)

    @classmethod
    def from_dict(cls, d: dict[str, Any], app: Celery | None = None) -> Signature:
        sig = chain(*_sigs(d.get("kwargs", {}).get("tasks") or (), app), app=app, **(d.get("options") or {}))
        sig["args"] = tuple(d.get("args") or ())
        sig["immutable"] = bool(d.get("immutable"))
        return sig

    @property
    def tasks(self) -> list[Signature]:
        tasks = self.kwargs.setdefault("tasks", [])
        if any(not isinstance(t, Signature) for t in tasks):
            tasks[:] = _sigs(tasks, self._app)
        return tasks

    def clone(self, args: Any = None, kwargs: Any = None, **opts: Any) -> chain:
        sig = copy.deepcopy(self)
        if args and not self.immutable:
            sig["args"] = tuple(args) + sig.args
        sig.options.update({k: v for k, v in opts.items() if v is not None})
        return sig

    partial = clone

    def __or__(self, other: Any) -> Any:
        if isinstance(other, _chain):
            return _chain(*self.tasks, *other.tasks, app=self._app)
        if isinstance(other, Signature):
            return _chain(*self.tasks, other, app=self._app)
        return NotImplemented

    def _steps(self) -> list[Signature]:
        """The steps, with each group followed by a step upgraded to a chord."""
        steps: list[Signature] = []
        for task in self.tasks:
            if steps and isinstance(steps[-1], group):
                steps.append(chord(steps.pop(), body=task, app=self._app))
            elif steps and isinstance(steps[-1], chord) and isinstance(steps[-1].body, group):
                last = steps[-1]
                last.body = chord(last.body, body=task, app=self._app)
            else:
                steps.append(task)
        return steps

    def freeze(self, _id: str | None = None, group_id: str | None = None, chord: Any = None,
               root_id: str | None = None, parent_id: str | None = None, group_index: int | None = None,
               **kwargs: Any) -> Any:
        """Freeze every step (the last one takes ``_id`` and the workflow place); returns the last result."""
        steps = self._steps()
        if not steps:
            return None
        links = self.options.pop("link", None) or []
        errbacks = self.options.pop("link_error", None) or []
        for step in steps:
            for errback in errbacks:
                step.link_error(errback)
        for callback in links:
            steps[-1].link(callback)
        results = []
        last_id = _id or self.options.get("task_id")
        for i, step in enumerate(steps):
            if i == len(steps) - 1:
                results.append(step.freeze(last_id, group_id=group_id, chord=chord, group_index=group_index,
                                           root_id=root_id))
            else:
                results.append(step.freeze(root_id=root_id))
        for previous, result in zip(results, results[1:]):
            _root(result).parent = previous
        self.kwargs["tasks"] = steps
        self.options["task_id"] = results[-1].id
        return results[-1]

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Publish the first step with the others embedded; returns the last step's result.

        The result's ``parent`` is the previous step's result, and so on up
        to the first one.
        """
        app = self.app
        if app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        sig = self if self.options.get("task_id") and "task_id" not in options else self.clone()
        for key in ("link", "link_error"):
            value = options.pop(key, None)
            if value is not None:
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    getattr(sig, key)(item)
        result = sig.freeze(options.pop("task_id", None), group_id=options.pop("group_id", None),
                            chord=options.pop("chord", None), group_index=options.pop("group_index", None),
                            root_id=options.get("root_id"))
        steps = sig.tasks
        if not steps:
            return None
        embedded = list(options.pop("chain", None) or sig.options.get("chain") or [])
        embedded.extend(reversed(steps[1:]))
        first = steps[0]
        args = (*(args or ()), *sig.args)
        first.apply_async(args, kwargs, chain=embedded or None, **options)
        return result

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Run the steps here, in order; a failing step's exception is raised at once (as Celery)."""
        sig = self.clone()
        result = sig.freeze()
        steps = sig.tasks
        if result is None:
            return None
        args = (*(args or ()), *sig.args)
        previous = None
        for i, step in enumerate(steps):
            res = step.apply(args, kwargs if i == 0 else None)
            if previous is not None:
                _root(res).parent = previous
            previous = res
            if i < len(steps) - 1:
                args = (_eager_value(res),)
        return previous

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.tasks) if self.tasks else "chain()"


_chain = chain


def _eager_value(result: Any) -> Any:
    """The value of an eager result (or group of them); raises its exception."""
    from .resultset import ResultSet

    if isinstance(result, ResultSet):
        return [_eager_value(r) for r in result.results]
    return result.get(disable_sync_subtasks=False)


# -- group ---------------------------------------------------------------------


@Signature.register_type()
class group(Signature):
    """Tasks run in parallel; the result is a ``GroupResult`` in declared order."""

    def __init__(self, *tasks: Any, app: Celery | None = None, **options: Any) -> None:
        if len(tasks) == 1:
            only = tasks[0]
            if isinstance(only, group):
                tasks = tuple(only.tasks)
            elif not isinstance(only, dict) and isinstance(only, Iterable):
                tasks = tuple(only)
        Signature.__init__(self, "celery.group", (), {"tasks": _sigs(tasks, app)}, options,
                           subtask_type="group", immutable=False, app=app)

    @classmethod
    def from_dict(cls, d: dict[str, Any], app: Celery | None = None) -> Signature:
        sig = group(*_sigs(d.get("kwargs", {}).get("tasks") or (), app), app=app, **(d.get("options") or {}))
        sig["args"] = tuple(d.get("args") or ())
        sig["immutable"] = bool(d.get("immutable"))
        return sig

    @property
    def tasks(self) -> list[Signature]:
        tasks = self.kwargs.setdefault("tasks", [])
        if any(not isinstance(t, Signature) for t in tasks):
            tasks[:] = _sigs(tasks, self._app)
        return tasks

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Any:
        return iter(self.tasks)

    def clone(self, args: Any = None, kwargs: Any = None, **opts: Any) -> group:
        sig = copy.deepcopy(self)
        if args and not self.immutable:
            sig["args"] = tuple(args) + sig.args
        sig.options.update({k: v for k, v in opts.items() if v is not None})
        return sig

    partial = clone

    def link(self, callback: Any) -> Any:
        """Link ``callback`` to the first task only (as Celery; use a chord to wait for all)."""
        if self.tasks:
            self.tasks[0].link(callback)
        return callback

    def link_error(self, errback: Any) -> Any:
        """Link ``errback`` to every task."""
        for task in self.tasks:
            task.link_error(errback)
        return errback

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> group:
        """Give the tasks growing countdowns: ``start``, ``start + step``… (up to ``stop``)."""
        values = itertools.count(start, step)
        for task in self.tasks:
            value = next(values)
            if stop is not None and value > stop:
                value = stop
            task.set(countdown=value)
        return self

    def __or__(self, other: Any) -> Any:
        if isinstance(other, Signature):
            return chord(self, body=other, app=self._app)
        return NotImplemented

    def freeze(self, _id: str | None = None, group_id: str | None = None, chord: Any = None,
               root_id: str | None = None, parent_id: str | None = None, group_index: int | None = None,
               **kwargs: Any) -> Any:
        """Fix the group id and every task's id; returns the ``GroupResult``."""
        from .result import GroupResult

        if _id:
            self.options["task_id"] = _id
        gid = self.options.setdefault("task_id", _uuid())
        results = [
            task.freeze(group_id=gid, chord=chord, group_index=i, root_id=root_id, parent_id=parent_id)
            for i, task in enumerate(self.tasks)
        ]
        return GroupResult(gid, results, app=self.app)

    def apply_async(self, args: Any = None, kwargs: Any = None, add_to_parent: bool = True,
                    producer: Any = None, link: Any = None, link_error: Any = None, **options: Any) -> Any:
        """Publish every task (partial ``args`` prepended to each); returns the ``GroupResult``.

        Raises:
            TypeError: ``link``/``link_error`` given (link each task, or use a chord).
        """
        if link is not None:
            raise TypeError("Cannot add link to group: use a chord")
        if link_error is not None:
            raise TypeError("Cannot add link to group: do that on individual tasks")
        app = self.app
        if app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        sig = self if self.options.get("task_id") and "task_id" not in options else self.clone()
        chord_body = options.pop("chord", None)
        result = sig.freeze(options.pop("task_id", None), chord=chord_body, root_id=options.pop("root_id", None),
                            parent_id=options.pop("parent_id", None))
        for key in ("group_id", "group_index", "chain"):
            options.pop(key, None)
        args = (*(args or ()), *sig.args)
        for task in sig.tasks:
            opts = dict(options, add_to_parent=False)
            if producer is not None:
                opts["producer"] = producer
            task.apply_async(args, kwargs, **opts)
        if add_to_parent:
            from ._state import get_current_worker_task

            parent = get_current_worker_task()
            if parent is not None:
                parent.add_trail(result)
        return result

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Run every task here, in order; returns a ``GroupResult`` of ``EagerResult``\\ s."""
        from .result import GroupResult

        sig = self.clone()
        result = sig.freeze()
        args = (*(args or ()), *sig.args)
        return GroupResult(result.id, [task.apply(args, kwargs) for task in sig.tasks], app=self.app)

    def __call__(self, *partial_args: Any, **options: Any) -> Any:
        return self.apply_async(partial_args, **options)

    def __repr__(self) -> str:
        return f"group([{', '.join(repr(t) for t in self.tasks)}])"


# -- chord ---------------------------------------------------------------------


@Signature.register_type()
class chord(Signature):
    """A group (the header) and a task (the body) called with the list of the header's results."""

    def __init__(self, header: Any = None, body: Any = None, task: str = "celery.chord", args: Any = None,
                 kwargs: Any = None, app: Celery | None = None, **options: Any) -> None:
        header = header if isinstance(header, group) else group(*(header or ()), app=app)
        Signature.__init__(self, task, args or (), dict(kwargs or {}, header=header,
                           body=maybe_signature(body, app=app)), options, subtask_type="chord",
                           immutable=False, app=app)

    @classmethod
    def from_dict(cls, d: dict[str, Any], app: Celery | None = None) -> Signature:
        kwargs = dict(d.get("kwargs") or {})
        header = maybe_signature(kwargs.pop("header", None), app=app)
        if header is not None and not isinstance(header, group):
            header = group(*(header or ()), app=app)
        sig = chord(header, kwargs.pop("body", None), args=d.get("args"), kwargs=kwargs, app=app,
                    **(d.get("options") or {}))
        return sig

    @property
    def header(self) -> group:
        header = self.kwargs["header"]
        if not isinstance(header, group):
            header = self.kwargs["header"] = group(*(header or ()), app=self._app)
        return header

    @property
    def body(self) -> Signature | None:
        body = self.kwargs.get("body")
        if body is not None and not isinstance(body, Signature):
            body = self.kwargs["body"] = maybe_signature(body, app=self._app)
        return body

    @body.setter
    def body(self, value: Any) -> None:
        self.kwargs["body"] = maybe_signature(value, app=self._app)

    @property
    def tasks(self) -> list[Signature]:
        return self.header.tasks

    def clone(self, args: Any = None, kwargs: Any = None, **opts: Any) -> chord:
        sig = copy.deepcopy(self)
        if args and not self.immutable:
            sig["args"] = tuple(args) + sig.args
        sig.options.update({k: v for k, v in opts.items() if v is not None})
        return sig

    partial = clone

    def link(self, callback: Any) -> Any:
        """Link ``callback`` to the body."""
        return self.body.link(callback)  # type: ignore[union-attr]

    def link_error(self, errback: Any) -> Any:
        """Link ``errback`` to the body (called with a ``ChordError`` if a header task fails)."""
        return self.body.link_error(errback)  # type: ignore[union-attr]

    def __or__(self, other: Any) -> Any:
        if isinstance(other, Signature):
            sig = self.clone()
            sig.body = _chain(sig.body, other, app=self._app)
            return sig
        return NotImplemented

    def freeze(self, _id: str | None = None, group_id: str | None = None, chord: Any = None,
               root_id: str | None = None, parent_id: str | None = None, group_index: int | None = None,
               **kwargs: Any) -> Any:
        """Fix the header's and the body's ids; returns the body's result (its parent: the header's)."""
        body = self.body
        if body is None:
            raise TypeError("chord has no body")
        header = self.header
        gid = header.options.setdefault("task_id", _uuid())
        body_result = body.freeze(_id or self.options.get("task_id"), group_id=group_id or gid, chord=chord,
                                  group_index=group_index, root_id=root_id)
        header_result = header.freeze(gid, chord=dict(body), root_id=root_id, parent_id=parent_id)
        _root(body_result).parent = header_result
        self.options["task_id"] = body_result.id
        return body_result

    def apply_async(self, args: Any = None, kwargs: Any = None, body: Any = None, **options: Any) -> Any:
        """Create the chord's counter, publish the header; returns the body's result.

        Partial ``args`` go to every header task. An empty header publishes
        the body at once with ``[]``.
        """
        app = self.app
        sig = self if self.options.get("task_id") and "task_id" not in options else self.clone()
        if body is not None:
            sig.body = body
        if app.conf.task_always_eager:
            return sig.apply(args, kwargs, **options)
        backend = app.backend
        backend.ensure_chords_allowed()
        extra_chain = options.pop("chain", None)
        if extra_chain:
            if isinstance(sig.body, _chain):
                sig.body.options["chain"] = list(extra_chain)
            else:
                sig.body.set(chain=list(extra_chain))  # type: ignore[union-attr]
        for key in ("link", "link_error"):
            value = options.pop(key, None)
            if value is not None:
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    getattr(sig, key)(item)
        body_result = sig.freeze(options.pop("task_id", None), group_id=options.pop("group_id", None),
                                 chord=options.pop("chord", None), group_index=options.pop("group_index", None),
                                 root_id=options.get("root_id"))
        header = sig.header
        args = (*(args or ()), *sig.args)
        if not header.tasks:
            sig.body.apply_async(([],), parent_id=options.get("parent_id"),  # type: ignore[union-attr]
                                 root_id=options.get("root_id"))
            return body_result
        header_result = body_result
        while header_result.parent is not None and header_result.id != header.id:
            header_result = header_result.parent
        backend.apply_chord(header_result, sig.body)
        header.apply_async(args, kwargs, **options)
        return body_result

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Run the header then the body here; a header failure raises (as Celery)."""
        sig = self.clone()
        header_result = sig.header.apply(args, kwargs)
        values = _eager_value(header_result)
        result = sig.body.apply((values,))  # type: ignore[union-attr]
        _root(result).parent = header_result
        return result

    def __call__(self, body: Any = None, **options: Any) -> Any:
        """``chord(header)(body)``: apply with ``body``."""
        return self.apply_async((), body=body, **options)

    def __repr__(self) -> str:
        return f"chord({self.header!r}, {self.body!r})"


# -- map, starmap, chunks ---------------------------------------------------------


class _basemap(Signature):
    _task_name = ""

    def __init__(self, task: Any, it: Iterable[Any], app: Celery | None = None, **options: Any) -> None:
        Signature.__init__(self, self._task_name, (), {"task": maybe_signature(task, app=app), "it": list(it)},
                           options, immutable=True, app=app)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        return Signature.apply_async(self, (), None, **options)


class xmap(_basemap):
    """``celery.map``: one message calling ``task(item)`` for each item; the result is the list."""

    _task_name = "celery.map"


class xstarmap(_basemap):
    """``celery.starmap``: one message calling ``task(*item)`` for each item."""

    _task_name = "celery.starmap"


@Signature.register_type()
class chunks(Signature):
    """``it`` split in parts of ``n`` items, each part a ``celery.starmap`` message (a group of them)."""

    def __init__(self, task: Any, it: Iterable[Any], n: int, app: Celery | None = None, **options: Any) -> None:
        Signature.__init__(self, "celery.chunks", (), {"task": maybe_signature(task, app=app), "it": list(it),
                           "n": n}, options, subtask_type="chunks", immutable=True, app=app)

    @classmethod
    def from_dict(cls, d: dict[str, Any], app: Celery | None = None) -> Signature:
        kw = d.get("kwargs") or {}
        return chunks(kw["task"], kw["it"], kw["n"], app=app, **(d.get("options") or {}))

    def group(self) -> group:
        """The group of ``celery.starmap`` messages."""
        task, it, n = self.kwargs["task"], self.kwargs["it"], self.kwargs["n"]
        parts = [it[i:i + n] for i in range(0, len(it), n)]
        return group([xstarmap(task, part, app=self._app) for part in parts], app=self._app)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        return self.group().apply_async(**options)

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        return self.group().apply(**options)

    def __call__(self, **options: Any) -> Any:
        return self.apply_async(**options)

    @classmethod
    def apply_chunks(cls, task: Any, it: Iterable[Any], n: int, app: Celery | None = None) -> Any:
        return cls(task, it, n, app=app).apply_async()


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
