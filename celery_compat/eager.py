"""``EagerResult``: the result of a task run here and now (re-exported by :mod:`celery_compat.result`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vine import promise

from . import states
from .exceptions import TaskRevokedError
from .result import AsyncResult, assert_will_not_block

__all__ = ["EagerResult"]


class EagerResult(AsyncResult):
    """The result of a task run here and now (``apply()``, ``task_always_eager``); nothing is stored."""

    def __init__(self, id: str, ret_value: Any, state: str, traceback: str | None = None,
                 name: str | None = None) -> None:
        self.id = id
        self._result = ret_value
        self._state = state
        self._traceback = traceback
        self._name = name
        self.on_ready = promise()
        self.on_ready(self)

    @property
    def _cache(self) -> dict[str, Any]:  # type: ignore[override]
        return {"task_id": self.id, "result": self._result, "status": self._state,
                "traceback": self._traceback, "name": self._name}

    def _get_task_meta(self) -> dict[str, Any]:
        return self._cache

    @property
    def result(self) -> Any:
        """The return value (or exception)."""
        return self._result

    @property
    def state(self) -> str:
        """The state the task ended in."""
        return self._state

    status = state

    @property
    def traceback(self) -> str | None:
        """The traceback if the task failed."""
        return self._traceback

    def ready(self) -> bool:
        return True

    def then(self, callback: Callable[..., Any], on_error: Callable[..., Any] | None = None,
             weak: bool = False) -> promise:
        """Call ``callback(result)`` now: an eager result is always ready."""
        return self.on_ready.then(callback, on_error)

    def get(self, timeout: float | None = None, propagate: bool = True,  # type: ignore[override]
            disable_sync_subtasks: bool = True, **kwargs: Any) -> Any:
        """The return value; raises the exception of a FAILURE/REVOKED if ``propagate``; else None."""
        if disable_sync_subtasks:
            assert_will_not_block()
        if self.successful():
            return self.result
        if self.state in states.PROPAGATE_STATES:
            if propagate:
                raise self.result if isinstance(self.result, Exception) else Exception(self.result)
            return self.result
        return None

    wait = get  # type: ignore[assignment]

    def forget(self) -> None:
        """Nothing is stored: nothing to forget."""

    def revoke(self, *args: Any, **kwargs: Any) -> None:
        """Mark REVOKED locally; the result becomes ``TaskRevokedError('revoked')`` (Celery 5.7)."""
        self._state = states.REVOKED
        self._result = TaskRevokedError("revoked")
        self._traceback = None

    @property
    def supports_native_join(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<EagerResult: {self.id}>"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.__class__, (self.id, self._result, self._state, self._traceback, self._name)

    def __copy__(self) -> EagerResult:
        return self.__class__(self.id, self._result, self._state, self._traceback, self._name)
