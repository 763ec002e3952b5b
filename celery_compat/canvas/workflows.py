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

    def _take_links(self, options: dict[str, Any]) -> None:
        """Move ``link``/``link_error`` of an ``apply_async`` call onto this workflow."""
        for key in ("link", "link_error"):
            value = options.pop(key, None)
            if value is not None:
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    getattr(self, key)(item)


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

#: ``chain(..., app=None)`` is not ``chain(...)``: only the latter copies its steps
_NO_APP: Any = object()


def _is_list(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (dict, str))


@Signature.register_type(name="chain")
class chain(_TaskList):
    """Tasks run one after the other, each given the previous one's result.

    ``chain(a, b, c)`` or ``a | b | c``. Nested chains are flattened; a
    group followed by another step becomes a chord.
    """

    def __new__(cls, *tasks: Any, app: Any = _NO_APP, **options: Any) -> Any:
        # As Celery (chains are built with ``|``): chain(group, task) is the chord itself.
        if not options and len(tasks) == 2 and isinstance(tasks[0], group) and isinstance(tasks[1], Signature):
            return chord(tasks[0], body=tasks[1], app=None if app is _NO_APP else app)
        return super().__new__(cls)

    def __init__(self, *tasks: Any, app: Any = _NO_APP, **options: Any) -> None:
        # As Celery's chain(): called with steps and no keyword at all, it is
        # built as ``a | b | c`` from an empty chain, which copies every step
        # but a last plain signature (so freezing it leaves the caller's
        # signatures alone); with any keyword (``app=`` too) nothing is copied.
        copy_steps = app is _NO_APP and not options and (len(tasks) != 1 or _is_list(tasks[0]))
        app = None if app is _NO_APP else app
        if len(tasks) == 1 and _is_list(tasks[0]):
            tasks = tuple(tasks[0])
        flat: list[Signature] = []
        sigs = _sigs(tasks, app)
        for n, task in enumerate(sigs):
            steps = task.tasks if isinstance(task, _chain) and not task.options else [task]
            if copy_steps and (n < len(sigs) - 1 or isinstance(task, _chain)):
                steps = [step.clone() for step in steps]
            flat.extend(steps)
        Signature.__init__(self, "celery.chain", (), {"tasks": flat}, options, subtask_type="chain",
                           immutable=False, app=app)
        # As Celery builds chains with ``|``: a group followed by a step is a chord from the start.
        self.kwargs["tasks"] = self._steps()

    def __or__(self, other: Any) -> Any:
        # As Celery: this chain's steps are copied, and a chain's steps on the right.
        mine = [task.clone() for task in self.tasks]
        if isinstance(other, _chain):
            return _chain(*mine, *(task.clone() for task in other.tasks), app=self._app)
        if isinstance(other, Signature):
            return _chain(*mine, other, app=self._app)
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
        """Freeze every step in place; returns the last step's result (``parent``: the step before).

        As Celery's: the last step takes ``_id`` (if it has no id yet) and
        the workflow place (``group_id``, ``chord``, ``group_index``); the
        chain's own ``task_id`` option is not used here (``apply_async``
        uses it) and becomes the last step's id. Chain-level ``link`` and
        ``link_error`` are given to the steps by ``apply_async``, not here.
        """
        steps = self._steps()
        if not steps:
            return None
        results = []
        for i, step in enumerate(steps):
            if i == len(steps) - 1:
                results.append(step.freeze(_id, group_id=group_id, chord=chord, group_index=group_index,
                                           root_id=root_id))
            else:
                results.append(step.freeze(root_id=root_id))
        for previous, result in zip(results, results[1:]):
            root = _root(result)
            if root is not previous:
                root.parent = previous
        self.kwargs["tasks"] = steps
        self.options["task_id"] = results[-1].id
        return results[-1]

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Publish the first step with the others embedded; returns the last step's result.

        The result's ``parent`` is the previous step's result, and so on up
        to the first one. The chain itself is not changed (a copy is
        published), so ids fixed by an earlier :meth:`freeze` are kept.
        """
        app = self.app
        if app.conf.task_always_eager:
            return self.apply(args, kwargs, **options)
        sig = self.clone()
        sig._take_links(options)
        links = sig.options.pop("link", None) or []
        errbacks = sig.options.pop("link_error", None) or []
        # As Celery's: the chain's own options under the call's; what does not
        # place the chain (queue, countdown, headers…) goes to the first step.
        options = {**sig.options, **options}
        result = sig.freeze(options.pop("task_id", None) or sig.options.get("task_id"),
                            group_id=options.pop("group_id", None), chord=options.pop("chord", None),
                            group_index=options.pop("group_index", None), root_id=options.get("root_id"))
        steps = sig.tasks
        if not steps:
            return None
        # A chain-level errback is linked to every step, a callback to the last one (as Celery's run()).
        for step in steps:
            for errback in errbacks:
                step.link_error(errback)
        for callback in links:
            steps[-1].link(callback)
        embedded = list(options.pop("chain", None) or [])
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
        """Fix the group id and every task's id; returns the ``GroupResult``.

        As Celery's: the group keeps its own ``task_id`` (``_id`` is not
        used), takes ``group_id``/``chord``/``group_index`` as its own
        options, and keeps a ``root_id``/``parent_id`` it already has. Its
        tasks are replaced by frozen copies (the signatures it was built
        from are not changed), each with its ``group_index`` and the
        ``group_id`` given here, if any: the group's own id is given to its
        tasks when it is published.
        """
        opts = self.options
        gid = opts.get("task_id")
        if not gid:
            gid = opts["task_id"] = _uuid()
        if group_id:
            opts["group_id"] = group_id
        if chord:
            opts["chord"] = chord
        if group_index is not None:
            opts["group_index"] = group_index
        root_id = opts.setdefault("root_id", root_id)
        parent_id = opts.setdefault("parent_id", parent_id)
        tasks = self._copies()
        results = [task.freeze(group_id=group_id, chord=chord, root_id=root_id, parent_id=parent_id, group_index=i)
                   for i, task in enumerate(tasks)]
        self.kwargs["tasks"] = tasks
        return self._group_result(gid, results)

    def _copies(self) -> list[Signature]:
        """Copies of the tasks, nested groups flattened (what freezing and publishing work on)."""
        copies: list[Signature] = []
        for task in self.tasks:
            if isinstance(task, group):
                copies.extend(task._copies())
            else:
                copies.append(task.clone())
        return copies

    def _group_result(self, gid: str, results: list[Any]) -> Any:
        from ..result import GroupResult

        return GroupResult(gid, results, app=self.app)

    def _apply_options(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The group id and the options each task is published or applied with.

        As Celery's: the group's own options under the call's, the id: the
        call's ``task_id``, else the group's own, else a new one.
        """
        merged = {k: v for k, v in self.options.items() if k not in ("group_id", "group_index")}
        merged.update({k: v for k, v in options.items() if k not in ("group_id", "group_index")})
        gid = merged.pop("task_id", None) or _uuid()
        for key in ("chain", "link", "link_error"):
            merged.pop(key, None)
        return gid, merged

    def apply_async(self, args: Any = None, kwargs: Any = None, add_to_parent: bool = True,
                    producer: Any = None, link: Any = None, link_error: Any = None, **options: Any) -> Any:
        """Publish every task (partial ``args`` prepended to each); returns the ``GroupResult``.

        The group itself is not changed (copies are published), so ids fixed
        by an earlier :meth:`freeze` are kept.

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
        gid, options = self._apply_options(options)
        root_id = options.get("root_id")
        tasks = self._copies()
        results = [task.freeze(group_id=gid, root_id=root_id, group_index=i) for i, task in enumerate(tasks)]
        args = (*(args or ()), *self.args)
        from ..bulk import publish_together

        with publish_together(app, producer):  # django://: multi-row INSERTs
            for task in tasks:
                opts = dict(options, add_to_parent=False, group_id=gid)
                if producer is not None:
                    opts["producer"] = producer
                task.apply_async(args, kwargs, **opts)
        result = self._group_result(gid, results)
        if add_to_parent:
            from .._state import get_current_worker_task

            parent = get_current_worker_task()
            if parent is not None:
                parent.add_trail(result)
        return result

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Run every task here, in order; returns a ``GroupResult`` of ``EagerResult``\\ s."""
        gid, options = self._apply_options(options)
        args = (*(args or ()), *self.args)
        return self._group_result(gid, [task.apply(args, kwargs, group_id=gid, **options)
                                        for task in self._copies()])

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
        """Fix the header's and the body's ids; returns the body's result (its parent: the header's).

        As Celery's: the header (a group) keeps its id and its tasks carry
        the body as ``chord``; the body keeps an id it already has, else
        takes ``_id`` (the chord's own ``task_id`` option is used by
        ``apply_async``, not here), and the workflow place. The chord's
        ``task_id`` becomes the header's id.
        """
        return self._freeze_parts(_id, group_id, chord, root_id, parent_id, group_index)[0]

    def _freeze_parts(self, body_id: str | None, group_id: str | None, chord: Any, root_id: str | None,
                      parent_id: str | None, group_index: int | None, body_group: bool = False) -> tuple[Any, Any]:
        """Freeze header and body; ``(body result, header result)``.

        ``body_group``: a body without a group of its own takes the header's
        id as ``group_id``, as Celery gives it when the chord is applied.
        """
        body = self.body
        if body is None:
            raise TypeError("chord has no body")
        header = self.header
        header_result = header.freeze(chord=body, root_id=root_id, parent_id=parent_id)
        self.options["task_id"] = header_result.id
        if body_group:
            group_id = group_id or header_result.id
        body_result = body.freeze(body_id, group_id=group_id, chord=chord, group_index=group_index,
                                  root_id=root_id)
        root = _root(body_result)
        if root is not header_result:
            root.parent = header_result
        return body_result, header_result

    def apply_async(self, args: Any = None, kwargs: Any = None, body: Any = None, **options: Any) -> Any:
        """Create the chord's counter, publish the header; returns the body's result.

        Partial ``args`` go to every header task. An empty header publishes
        the body at once with ``[]``. The chord itself is not changed (a
        copy is published), so ids fixed by an earlier :meth:`freeze` are
        kept.
        """
        app = self.app
        sig = self.clone()
        if body is not None:
            sig.body = body
        # As Celery: the header is published under the chord's own task_id
        # option (freeze() sets it to the header's id), never under an id the
        # header group was built with; apply_async(task_id=) names the body.
        header_id = self.options.get("task_id")
        if header_id:
            sig.header.options["task_id"] = header_id
        else:
            sig.header.options.pop("task_id", None)
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
        sig._take_links(options)
        body_result, header_result = sig._freeze_parts(
            options.pop("task_id", None) or self.options.get("task_id"), options.pop("group_id", None),
            options.pop("chord", None), options.get("root_id"), None, options.pop("group_index", None),
            body_group=True)
        header = sig.header
        args = (*(args or ()), *sig.args)
        if not header.tasks:
            sig.body.apply_async(([],), parent_id=options.get("parent_id"),  # type: ignore[union-attr]
                                 root_id=options.get("root_id"))
            return body_result
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
