"""``ResultSet`` and ``GroupResult``: several results handled as one.

Re-exported by :mod:`celery_compat.result`, where user code imports them
from. Values come back in the order of ``results`` whatever order the tasks
finish in; ``completed_count()`` counts successes, not finished tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from vine import promise

from . import _state, states
from .exceptions import ImproperlyConfigured, TimeoutError
from .result import AsyncResult, ResultBase, assert_will_not_block, revoke_options

__all__ = ["ResultSet", "GroupResult"]


class ResultSet(ResultBase):
    """A list of results with collective ``ready()``, ``join()``, ``revoke()``…

    Arguments:
        results: The result handles; the list is kept (not copied) as Celery does.
        app: The app; by default the first result's, else the current app.
    """

    _app: Any = None

    def __init__(self, results: Iterable[ResultBase] | None, app: Any = None, **kwargs: Any) -> None:
        self._app = app
        self.results: list[Any] = results if isinstance(results, list) else list(results or ())
        self.on_ready = promise()

    @property
    def app(self) -> Any:
        if self._app is None:
            self._app = self.results[0].app if self.results else _state.get_current_app()
        return self._app

    @app.setter
    def app(self, app: Any) -> None:
        self._app = app

    @property
    def backend(self) -> Any:
        return self.app.backend if self.app else self.results[0].backend

    @property
    def supports_native_join(self) -> bool | None:
        try:
            return self.results[0].supports_native_join
        except IndexError:
            return None

    # -- membership ---------------------------------------------------------------------

    def add(self, result: ResultBase) -> None:
        """Add ``result`` unless it is already a member."""
        if result not in self.results:
            self.results.append(result)

    def remove(self, result: ResultBase | str) -> None:
        """Remove a member (a result or its id).

        Raises:
            KeyError: ``result`` is not a member.
        """
        if isinstance(result, str):
            result = AsyncResult(result, app=self.app)
        try:
            self.results.remove(result)
        except ValueError:
            raise KeyError(result) from None

    def discard(self, result: ResultBase | str) -> None:
        """Remove ``result`` if it is a member."""
        try:
            self.remove(result)
        except KeyError:
            pass

    def update(self, results: Iterable[ResultBase]) -> None:
        """Add each of ``results`` that is not yet a member."""
        self.results.extend(r for r in results if r not in self.results)

    def clear(self) -> None:
        """Remove every member (the same list object is kept)."""
        self.results[:] = []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.results)

    def __getitem__(self, index: Any) -> Any:
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ResultSet):
            return other.results == self.results
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: [{', '.join(r.id for r in self.results)}]>"

    # -- state ---------------------------------------------------------------------------

    def successful(self) -> bool:
        """True if every task succeeded."""
        return all(result.successful() for result in self.results)

    def failed(self) -> bool:
        """True if any task failed."""
        return any(result.failed() for result in self.results)

    def waiting(self) -> bool:
        """True if any task is not ready yet."""
        return any(not result.ready() for result in self.results)

    def ready(self) -> bool:
        """True if every task is ready (succeeded, failed or revoked)."""
        done = all(result.ready() for result in self.results)
        if done and not self.on_ready.ready:
            self.on_ready(self)
        return done

    def completed_count(self) -> int:
        """How many tasks *succeeded* (a failed task is ready but not counted)."""
        return sum(int(result.successful()) for result in self.results)

    def maybe_throw(self, callback: Callable[[str, Any], Any] | None = None, propagate: bool = True) -> None:
        """Raise the first failure among the members (in order)."""
        for result in self.results:
            result.maybe_throw(callback=callback, propagate=propagate)

    maybe_reraise = maybe_throw

    def then(self, callback: Callable[..., Any], on_error: Callable[..., Any] | None = None,
             weak: bool = False) -> promise:
        """Call ``callback(result_set)`` once every member is seen ready (by ``ready()``)."""
        return self.on_ready.then(callback, on_error)

    def _failed_join_report(self) -> Iterator[Any]:
        # The members that failed or were revoked, to name the culprit of a chord error.
        return (r for r in self.results if r.state in states.PROPAGATE_STATES)

    # -- operations ----------------------------------------------------------------------

    def forget(self) -> None:
        """Forget the stored result of every member."""
        for result in self.results:
            result.forget()

    def revoke(self, connection: Any = None, terminate: bool = False, signal: str | None = None,
               wait: bool = False, timeout: float | None = None) -> None:
        """Ask every worker not to run any of these tasks."""
        options = revoke_options(connection, terminate, signal, wait, timeout)
        self.app.control.revoke([r.id for r in self.results], **options)

    def get(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5,
            callback: Callable[[str, Any], Any] | None = None, no_ack: bool = True, on_message: Any = None,
            disable_sync_subtasks: bool = True, on_interval: Callable[[], Any] | None = None) -> list[Any]:
        """Same as :meth:`join`."""
        return self.join(timeout=timeout, propagate=propagate, interval=interval, callback=callback,
                         no_ack=no_ack, on_message=on_message, disable_sync_subtasks=disable_sync_subtasks,
                         on_interval=on_interval)

    def join(self, timeout: float | None = None, propagate: bool = True, interval: float = 0.5,
             callback: Callable[[str, Any], Any] | None = None, no_ack: bool = True, on_message: Any = None,
             disable_sync_subtasks: bool = True, on_interval: Callable[[], Any] | None = None) -> list[Any]:
        """Wait for every member; return their values in ``results`` order.

        ``timeout`` is for the whole join: each member gets what is left of
        it (members already ready are read even when nothing is left). With a
        ``callback(task_id, value)``, values go to it and ``[]`` is returned.

        Raises:
            celery_compat.exceptions.TimeoutError: ``'join operation timed out'``.
            Exception: the first failure met, in order, when ``propagate``.
        """
        if disable_sync_subtasks:
            assert_will_not_block()
        if on_message is not None:
            raise ImproperlyConfigured("Backend does not support on_message callback")
        started = time.monotonic()
        values: list[Any] = []
        for result in self.results:
            remaining = None if timeout is None else max(timeout - (time.monotonic() - started), 0.0)
            try:
                value = result.get(timeout=remaining, propagate=propagate, interval=interval, no_ack=no_ack,
                                   on_interval=on_interval, disable_sync_subtasks=disable_sync_subtasks)
            except TimeoutError as exc:
                raise TimeoutError("join operation timed out") from exc
            if callback is not None:
                callback(result.id, value)
            else:
                values.append(value)
        return values

    join_native = join


class GroupResult(ResultSet):
    """The results of a group: a :class:`ResultSet` with an id, which can be saved and restored.

    Arguments:
        id: The group id.
        results: The results of the group's tasks.
        parent: The result before the group in a chain.
    """

    id: Any = None

    def __init__(self, id: str | None = None, results: Iterable[ResultBase] | None = None,
                 parent: ResultBase | None = None, **kwargs: Any) -> None:
        self.id = id
        self.parent = parent
        super().__init__(results, **kwargs)

    def save(self, backend: Any = None) -> Any:
        """Save the group so that :meth:`restore` finds it (``group.delay()`` does not save)."""
        return (backend or self.app.backend).save_group(self.id, self)

    def delete(self, backend: Any = None) -> None:
        """Delete the saved group (its tasks' results stay)."""
        (backend or self.app.backend).delete_group(self.id)

    @classmethod
    def restore(cls, id: str, backend: Any = None, app: Any = None) -> GroupResult | None:
        """The group saved under ``id``, or None if it never was."""
        backend = backend or (app or _state.get_current_app()).backend
        return backend.restore_group(id)

    @property
    def children(self) -> list[Any]:
        """The group's results."""
        return self.results

    def as_tuple(self) -> tuple[Any, list[Any]]:
        """``((id, parent_tuple), [child tuples])``: the stored form of a group."""
        parent = self.parent.as_tuple() if self.parent is not None else None  # type: ignore[attr-defined]
        return (self.id, parent), [r.as_tuple() for r in self.results]

    def __bool__(self) -> bool:
        return bool(self.id or self.results)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GroupResult):
            return other.id == self.id and other.results == self.results and other.parent == self.parent
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self.id)

    def __str__(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.id} [{', '.join(r.id for r in self.results)}]>"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.__class__, (self.id, self.results)
