"""Chains, groups and chords (see the package docstring for how they run)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .._state import get_current_app
from .signature import Signature, _root, _sigs, _uuid, maybe_signature

if TYPE_CHECKING:
    from ..app import Celery


# -- shared by chain, group and chord -------------------------------------------


class _Workflow(Signature):
    """A signature made of signatures: its clone is deep (the inner signatures are copied too)."""

    @property
    def app(self) -> Celery:
        """Its own app, else its first task's (as Celery: ``chain(t.s(), …)`` of another app's tasks
        runs with that app's settings), else the current one."""
        if self._app is not None:
            return self._app
        first = self._first()
        if first is not None:
            found = first.app if isinstance(first, _Workflow) else first._app
            if found is not None:
                return found
        return get_current_app()

    def _first(self) -> Signature | None:
        tasks = self.tasks  # type: ignore[attr-defined]
        return tasks[0] if tasks else None

    def clone(self, args: Any = None, kwargs: Any = None, **opts: Any) -> Any:
        """A deep copy, with partial ``args`` prepended and options merged."""
        sig = copy.deepcopy(self)
        if args and not self.immutable:
            sig["args"] = tuple(args) + sig.args
        sig.options.update({k: v for k, v in opts.items() if v is not None})
        return sig

    partial = clone

    def _link_and_freeze(self, options: dict[str, Any]) -> Any:
        """Take ``link``/``link_error`` and the workflow place out of ``options``; freeze with them."""
        for key in ("link", "link_error"):
            value = options.pop(key, None)
            if value is not None:
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    getattr(self, key)(item)
        return self.freeze(options.pop("task_id", None), group_id=options.pop("group_id", None),
                           chord=options.pop("chord", None), group_index=options.pop("group_index", None),
                           root_id=options.get("root_id"))


class _TaskList(_Workflow):
    """A workflow whose ``kwargs['tasks']`` is its list of steps (chain, group).

    Not registered as a type: ``Signature.from_dict`` dispatches on
    ``subtask_type`` to the subclass, whose ``from_dict`` (this one, with
    ``cls`` the subclass) builds it from its tasks.
    """

    @classmethod
    def from_dict(cls, d: dict[str, Any], app: Celery | None = None) -> Signature:
        sig = cls(*_sigs(d.get("kwargs", {}).get("tasks") or (), app), app=app, **(d.get("options") or {}))
        sig["args"] = tuple(d.get("args") or ())
        sig["immutable"] = bool(d.get("immutable"))
        return sig

    @property
    def tasks(self) -> list[Signature]:
        tasks = self.kwargs.setdefault("tasks", [])
        if any(not isinstance(t, Signature) for t in tasks):
            tasks[:] = _sigs(tasks, self._app)
        return tasks


# -- chain ---------------------------------------------------------------------


@Signature.register_type(name="chain")
class chain(_TaskList):
    """Tasks run one after the other, each given the previous one's result.

    ``chain(a, b, c)`` or ``a | b | c``. Nested chains are flattened; a
    group followed by another step becomes a chord.
    """

    def __new__(cls, *tasks: Any, app: Celery | None = None, **options: Any) -> Any:
        # As Celery (chains are built with ``|``): chain(group, task) is the chord itself.
        if not options and len(tasks) == 2 and isinstance(tasks[0], group) and isinstance(tasks[1], Signature):
            return chord(tasks[0], body=tasks[1], app=app)
        return super().__new__(cls)

    def __init__(self, *tasks: Any, app: Celery | None = None, **options: Any) -> None:
        if len(tasks) == 1 and not isinstance(tasks[0], dict) and isinstance(tasks[0], Iterable):
            tasks = tuple(tasks[0])
        flat: list[Signature] = []
        for task in _sigs(tasks, app):
            flat.extend(task.tasks if isinstance(task, _chain) and not task.options else [task])
        Signature.__init__(self, "celery.chain", (), {"tasks": flat}, options, subtask_type="chain",
                           immutable=False, app=app)
        # As Celery builds chains with ``|``: a group followed by a step is a chord from the start.
        self.kwargs["tasks"] = self._steps()

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
        result = sig._link_and_freeze(options)
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


def _fxrange(start: float, stop: float | None, step: float) -> Iterator[float]:
    value = start * 1.0
    while True:
        if not stop or value <= stop:
            yield value
            value += step
        else:
            yield value - step


def _eager_value(result: Any) -> Any:
    """The value of an eager result (or group of them); raises its exception."""
    from ..resultset import ResultSet

    if isinstance(result, ResultSet):
        return [_eager_value(r) for r in result.results]
    return result.get(disable_sync_subtasks=False)


# -- group ---------------------------------------------------------------------


@Signature.register_type()
class group(_TaskList):
    """Tasks run in parallel; the result is a ``GroupResult`` in declared order."""

    def __init__(self, *tasks: Any, app: Celery | None = None, **options: Any) -> None:
        if len(tasks) == 1:
            only = tasks[0]
            if isinstance(only, group):
                tasks = tuple(only.tasks)
            elif not isinstance(only, dict) and isinstance(only, Iterable):
                tasks = tuple(only)
        flat: list[Signature] = []
        for task in _sigs(tasks, app):
            # Nested groups are flattened, as Celery does.
            flat.extend(task.tasks if isinstance(task, group) and not task.options else [task])
        Signature.__init__(self, "celery.group", (), {"tasks": flat}, options,
                           subtask_type="group", immutable=False, app=app)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Any:
        return iter(self.tasks)

    def link(self, callback: Any) -> Any:
        """Link an immutable clone of ``callback`` to the first task only (use a chord to wait for all)."""
        callback = maybe_signature(callback, app=self._app).clone().set(immutable=True)
        if self.tasks:
            self.tasks[0].link(callback)
        return callback

    def link_error(self, errback: Any) -> tuple[Any, ...]:
        """Link a clone of ``errback`` to every task; returns the clones, as Celery.

        The clones keep ``errback``'s mutability: an old-style errback gets
        the failed task's id.
        """
        errback = maybe_signature(errback, app=self._app)
        return tuple(task.link_error(errback.clone()) for task in self.tasks)

    def skew(self, start: float = 1.0, stop: float | None = None, step: float = 1.0) -> group:
        """Give the tasks growing countdowns (floats): ``start``, ``start + step``…

        Past ``stop`` the last value not over it repeats, as Celery's ``fxrange``.
        """
        values = _fxrange(start, stop, step)
        for task in self.tasks:
            task.set(countdown=next(values))
        return self

    def __or__(self, other: Any) -> Any:
        if isinstance(other, Signature):
            return chord(self, body=other, app=self._app)
        return NotImplemented

    def freeze(self, _id: str | None = None, group_id: str | None = None, chord: Any = None,
               root_id: str | None = None, parent_id: str | None = None, group_index: int | None = None,
               **kwargs: Any) -> Any:
        """Fix the group id and every task's id; returns the ``GroupResult``."""
        from ..result import GroupResult

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
        from ..bulk import publish_batch

        with publish_batch(app, producer):  # django://: multi-row INSERTs
            for task in sig.tasks:
                opts = dict(options, add_to_parent=False)
                if producer is not None:
                    opts["producer"] = producer
                task.apply_async(args, kwargs, **opts)
        if add_to_parent:
            from .._state import get_current_worker_task

            parent = get_current_worker_task()
            if parent is not None:
                parent.add_trail(result)
        return result

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Run every task here, in order; returns a ``GroupResult`` of ``EagerResult``\\ s."""
        from ..result import GroupResult

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
class chord(_Workflow):
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

    def _first(self) -> Signature | None:
        tasks = self.header.tasks
        return tasks[0] if tasks else self.body

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

    def link(self, callback: Any) -> Any:
        """Link ``callback`` to the body."""
        return self.body.link(callback)  # type: ignore[union-attr]

    def link_error(self, errback: Any) -> Any:
        """Link ``errback`` to the body (called with a ``ChordError`` if a header task fails).

        With ``task_allow_error_cb_on_chord_header`` also to every header task.
        """
        if self.app.conf.task_allow_error_cb_on_chord_header:
            for task in self.header.tasks:
                task.link_error(errback.clone() if isinstance(errback, Signature) else errback)
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
        body_result = body.freeze(_id or self.options.get("task_id"),
                                  group_id=group_id or body.options.get("group_id") or gid, chord=chord,
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
        body_result = sig._link_and_freeze(options)
        header = sig.header
        args = (*(args or ()), *sig.args)
        if not header.tasks:
            sig.body.apply_async(([],), parent_id=options.get("parent_id"),  # type: ignore[union-attr]
                                 root_id=options.get("root_id"))
            return body_result
        header_result = body_result
        while header_result.parent is not None and header_result.id != header.id:
            header_result = header_result.parent
        # With django:// on the result database: the counter and every header
        # message together or nothing (no counter left waiting for parts that were never sent).
        with backend.chord_publish_transaction():
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
