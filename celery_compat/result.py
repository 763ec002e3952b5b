"""``celery.result``'s twin: handles on task results, sets of them and groups.

Same names, arguments and behaviour as Celery 5.7 (surface §3, semantics
§4, §8, §9, §12). The result handles read through ``app.backend`` (see
:mod:`celery_compat.backends`) and wait by polling it, woken early where the
backend can (PostgreSQL LISTEN). Differences, all deliberate:

- ``children`` is always a list of result handles (Celery returns raw
  tuples until the task is ready);
- ``ResultSet.join`` reports any timeout as ``TimeoutError('join operation
  timed out')``, the message Celery ≤5.6 gave; each member still gets the
  remaining budget, so members that are ready are returned (5.7's rule);
- pickling an ``AsyncResult`` keeps its id and parent but not its backend,
  which is the current app's again when unpickled;
- ``get()`` refuses to block in any thread that is running a task in a
  worker (not only in processes flagged by the worker), or inside
  :func:`denied_join_result`; :func:`allow_join_result` is per thread.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vine import promise

from . import _state, states
from .exceptions import IncompleteStream, TimeoutError

__all__ = (
    "ResultBase",
    "AsyncResult",
    "ResultSet",  # noqa: F822 (module __getattr__ below)
    "GroupResult",  # noqa: F822
    "EagerResult",  # noqa: F822
    "result_from_tuple",
    "allow_join_result",
    "denied_join_result",
    "assert_will_not_block",
    "set_join_will_block",
    "task_join_will_block",
)

E_WOULDBLOCK = """\
Never call result.get() within a task!
See https://docs.celeryq.dev/en/latest/userguide/tasks.html\
#avoid-launching-synchronous-subtasks
"""

# -- may get() block? ------------------------------------------------------------------

#: Set by the worker (set_join_will_block) in processes that only run tasks.
_join_will_block = False
#: allow_join_result()/denied_join_result() of this thread, innermost wins.
_local = threading.local()


def set_join_will_block(blocks: bool) -> None:
    """Make every ``get()`` of this process refuse to block (the worker sets it)."""
    global _join_will_block
    _join_will_block = blocks


def task_join_will_block() -> bool:
    """True if ``get()`` here would be a synchronous wait inside a task."""
    override = getattr(_local, "override", None)
    if override is not None:
        return bool(override)
    if _join_will_block:
        return True
    # A worker running tasks in threads: block only the threads running one.
    # Eager runs are denied by apply_async (denied_join_result), as in Celery,
    # so that task.apply() may still wait.
    task = _state.get_current_worker_task()
    return task is not None and not task.request.is_eager


@contextmanager
def _join_override(value: bool) -> Iterator[None]:
    previous = getattr(_local, "override", None)
    _local.override = value
    try:
        yield
    finally:
        _local.override = previous


def allow_join_result() -> Any:
    """Context manager: let ``get()`` block even inside a task (at your own risk of deadlock)."""
    return _join_override(False)


def denied_join_result() -> Any:
    """Context manager: make ``get()`` raise ``RuntimeError`` instead of blocking."""
    return _join_override(True)


def assert_will_not_block() -> None:
    """Raise ``RuntimeError`` (Celery's message) if waiting here would block a task."""
    if task_join_will_block():
        raise RuntimeError(E_WOULDBLOCK)


# -- single results -----------------------------------------------------------------------


def revoke_options(connection: Any, terminate: bool, signal: str | None, wait: bool,
                   timeout: float | None) -> dict[str, Any]:
    """``app.control.revoke`` options from ``AsyncResult.revoke``'s arguments."""
    options: dict[str, Any] = {"terminate": terminate}
    if signal is not None:
        options["signal"] = signal
    if connection is not None:
        options["connection"] = connection
    if wait:
        options["reply"] = True
    if timeout is not None:
        options["timeout"] = timeout
    return options


class ResultBase:
    """Base class of every result handle."""

    #: The result of the previous task in a chain, if any.
    parent: Any = None


def _meta_field(key: str, doc: str) -> property:
    def read(self: AsyncResult) -> Any:
        return self._get_task_meta().get(key)

    return property(read, doc=doc)


class AsyncResult(ResultBase):
    """The state and result of one task, read from the result backend.

    Arguments:
        id: The task id.
        backend: Where to read; ``app.backend`` by default.
        task_name: Ignored (deprecated in Celery too).
        app: The app; the current app by default.
        parent: The result of the previous task in a chain.
    """

    TimeoutError = TimeoutError
    app: Any = None
    backend: Any = None
    id: Any = None

    def __init__(self, id: str, backend: Any = None, task_name: str | None = None, app: Any = None,
                 parent: ResultBase | None = None) -> None:
        if id is None:
            raise ValueError(f"AsyncResult requires valid id, not {type(id)}")
        self.app = app or _state.get_current_app()
        self.id = id
        self.backend = backend or self.app.backend
        self.parent = parent
        self._cache: dict[str, Any] | None = None
        self._ignored = False

    @property
    def on_ready(self) -> promise:
        """The ``vine`` promise fulfilled with this result once it is ready.

        Made on first use: most handles (each task of a published group has
        two) are never waited on, and two promises were 6% of a group's publish.
        """
        on_ready = self.__dict__.get("_on_ready")
        if on_ready is None:
            on_ready = self._on_ready = promise(self._on_fulfilled, weak=True)
        return on_ready

    @on_ready.setter
    def on_ready(self, value: promise) -> None:
        self._on_ready = value

    @property
    def ignored(self) -> bool:
        """True if the task ignores its result: ``get()`` then returns None at once."""
        return getattr(self, "_ignored", False)

    @ignored.setter
    def ignored(self, value: bool) -> None:
        self._ignored = value

    @property
    def task_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id

    @task_id.setter
    def task_id(self, id: str) -> None:
        self.id = id

    # -- the stored meta ---------------------------------------------------------------

    def _get_task_meta(self) -> dict[str, Any]:
        if self._cache is None:
            return self._maybe_set_cache(self.backend.get_task_meta(self.id))
        return self._cache

    def _maybe_set_cache(self, meta: dict[str, Any]) -> dict[str, Any]:
        # A ready result cannot change any more (for this handle): keep it.
        if meta and meta["status"] in states.READY_STATES:
            self._cache = self.backend.meta_from_decoded(meta)
            self.on_ready(self)
            return self._cache
        return meta

    def _on_fulfilled(self, result: Any) -> Any:
        self.backend.remove_pending_result(self)
        return result

    @property
    def state(self) -> str:
        """PENDING, STARTED, RETRY, FAILURE, SUCCESS, REVOKED or a custom state."""
        return self._get_task_meta()["status"]

    status = state

    @property
    def result(self) -> Any:
        """The return value, the exception for FAILURE/RETRY/REVOKED, or the meta of a custom state."""
        return self._get_task_meta()["result"]

    info = result

    @property
    def traceback(self) -> str | None:
        """The traceback of a failed task, as text."""
        return self._get_task_meta().get("traceback")

    @property
    def date_done(self) -> dt.datetime | None:
        """When the result was stored (aware)."""
        date_done = self._get_task_meta().get("date_done")
        if date_done and not isinstance(date_done, dt.datetime):
            return dt.datetime.fromisoformat(date_done)
        return date_done

    @property
    def children(self) -> list[ResultBase] | None:
        """Results of the tasks this task published while it ran."""
        children = self._get_task_meta().get("children")
        if not children:
            return children
        return [c if isinstance(c, ResultBase) else result_from_tuple(c, self.app) for c in children]

    name = _meta_field("name", "Task name (``result_extended``).")
    args = _meta_field("args", "Positional arguments as stored (``result_extended``): the argsrepr string.")
    kwargs = _meta_field("kwargs", "Keyword arguments as stored (``result_extended``): the kwargsrepr string.")
    worker = _meta_field("worker", "Host name of the worker (``result_extended``).")
    retries = _meta_field("retries", "Retries done when the result was stored (``result_extended``).")
    queue = _meta_field("queue", "Queue the task came from (``result_extended``).")

    def ready(self) -> bool:
        """True once the task has finished (SUCCESS, FAILURE or REVOKED)."""
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        """True if the task succeeded."""
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        """True if the task failed."""
        return self.state == states.FAILURE

    def exists(self) -> bool:
        """True if the backend has something stored for this id (Celery 5.7)."""
        return self.backend.task_result_exists(self.id)

    # -- waiting -------------------------------------------------------------------------

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5,
            no_ack: bool = True, follow_parents: bool = True, callback: Callable[[str, Any], Any] | None = None,
            on_message: Any = None, on_interval: Callable[[], Any] | None = None,
            disable_sync_subtasks: bool = True, EXCEPTION_STATES: Any = None, PROPAGATE_STATES: Any = None) -> Any:
        """Wait until the task is ready and return its result.

        Raises:
            celery_compat.exceptions.TimeoutError: not ready within ``timeout``
                seconds (``'The operation timed out.'``).
            RuntimeError: called inside a task (see :func:`allow_join_result`).
            Exception: the task's exception, when it failed and ``propagate``.
        """
        if self.ignored:
            return None
        if disable_sync_subtasks:
            assert_will_not_block()
        check_parents = follow_parents and propagate and self.parent is not None
        if check_parents:
            self._maybe_reraise_parent_error()

        def _on_interval() -> None:
            if check_parents:
                self._maybe_reraise_parent_error()
            if on_interval is not None:
                on_interval()

        if self._cache:
            if propagate:
                self.maybe_throw(callback=callback)
            return self.result
        self.backend.add_pending_result(self)
        return self.backend.wait_for_pending(
            self, timeout=timeout, interval=interval, on_interval=_on_interval, no_ack=no_ack,
            propagate=propagate, callback=callback, on_message=on_message,
        )

    wait = get

    def _parents(self) -> Iterator[ResultBase]:
        node = self.parent
        while node:
            yield node
            node = node.parent

    def _maybe_reraise_parent_error(self) -> None:
        for node in reversed(list(self._parents())):
            node.maybe_throw()  # type: ignore[attr-defined]

    def throw(self, exc: Any = None, tb: Any = None, propagate: bool = True) -> None:
        """Raise ``exc`` (wrapped in ``Exception`` if it is not an exception)."""
        if not isinstance(exc, BaseException):
            exc = Exception(exc)
        raise exc.with_traceback(tb) if tb is not None else exc

    def maybe_throw(self, propagate: bool = True, callback: Callable[[str, Any], Any] | None = None) -> Any:
        """Raise the task's exception if it failed or was revoked; else return the result."""
        cache = self._get_task_meta() if self._cache is None else self._cache
        state, value = cache["status"], cache["result"]
        if state in states.PROPAGATE_STATES and propagate:
            self.throw(value)
        if callback is not None:
            callback(self.id, value)
        return value

    maybe_reraise = maybe_throw

    def then(self, callback: Callable[..., Any], on_error: Callable[..., Any] | None = None,
             weak: bool = False) -> promise:
        """Call ``callback(result)`` once this result is seen ready (by ``get()``, ``state``…)."""
        self.backend.add_pending_result(self, weak=weak)
        return self.on_ready.then(callback, on_error)

    # -- graph of results ---------------------------------------------------------------

    def iterdeps(self, intermediate: bool = False) -> Iterator[tuple[ResultBase | None, ResultBase]]:
        """Yield ``(parent, node)`` for this result and its children, breadth first.

        Raises:
            IncompleteStream: a node is not ready and ``intermediate`` is false.
        """
        stack: deque[tuple[ResultBase | None, Any]] = deque([(None, self)])
        while stack:
            parent, node = stack.popleft()
            yield parent, node
            if node.ready():
                stack.extend((node, child) for child in node.children or [])
            elif not intermediate:
                raise IncompleteStream()

    def collect(self, intermediate: bool = False, **kwargs: Any) -> Iterator[tuple[ResultBase, Any]]:
        """Yield ``(result, value)`` for this result and every descendant, waiting for each."""
        for _, node in self.iterdeps(intermediate=intermediate):
            yield node, node.get(**kwargs)  # type: ignore[attr-defined]

    def get_leaf(self) -> Any:
        """The value of the last result in :meth:`iterdeps` order."""
        value = None
        for _, node in self.iterdeps():
            value = node.get()  # type: ignore[attr-defined]
        return value

    # -- operations ----------------------------------------------------------------------

    def forget(self) -> None:
        """Delete the stored result of this task and of its parents."""
        self._cache = None
        if self.parent:
            self.parent.forget()  # type: ignore[attr-defined]
        self.backend.remove_pending_result(self)
        self.backend.forget(self.id)

    def revoke(self, connection: Any = None, terminate: bool = False, signal: str | None = None,
               wait: bool = False, timeout: float | None = None) -> None:
        """Ask every worker not to run this task (and ``terminate`` it if it runs)."""
        self.app.control.revoke(self.id, **revoke_options(connection, terminate, signal, wait, timeout))

    @property
    def supports_native_join(self) -> bool:
        return bool(self.backend.supports_native_join)

    def as_tuple(self) -> tuple[Any, None]:
        """``((id, parent_tuple), None)``: how results are stored in ``children`` and groups."""
        parent = self.parent
        return (self.id, parent.as_tuple() if parent is not None else None), None  # type: ignore[attr-defined]

    def as_list(self) -> list[str]:
        """This id followed by the ids of its parents."""
        ids = [self.id]
        if self.parent is not None:
            ids.extend(self.parent.as_list())  # type: ignore[attr-defined]
        return ids

    def __str__(self) -> str:
        return str(self.id)

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.id}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __copy__(self) -> AsyncResult:
        return self.__class__(self.id, self.backend, None, self.app, self.parent)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.__class__, (self.id, None, None, None, self.parent)


def result_from_tuple(r: Any, app: Any = None) -> ResultBase:
    """Rebuild a result handle from its ``as_tuple()`` (JSON lists work too)."""
    from .resultset import GroupResult

    if isinstance(r, ResultBase):
        return r
    app = app or _state.get_current_app()
    res, nodes = r
    id, parent = res if isinstance(res, (list, tuple)) else (res, None)
    if parent:
        parent = result_from_tuple(parent, app)
    if nodes is not None:
        return GroupResult(id, [result_from_tuple(child, app) for child in nodes], parent=parent, app=app)
    return AsyncResult(id, parent=parent, app=app)


def __getattr__(name: str) -> Any:
    # ResultSet, GroupResult (resultset.py) and EagerResult (eager.py) live
    # in modules of their own that import this one: load them on first use.
    if name in ("ResultSet", "GroupResult"):
        from . import resultset

        return getattr(resultset, name)
    if name == "EagerResult":
        from .eager import EagerResult

        return EagerResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
