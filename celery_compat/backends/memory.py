"""``result_backend = 'cache+memory://'`` (or ``'memory'``): results in this process only.

For tests: the same rows, encoding and overwrite rules as the database
backend, kept in a dict, so unit tests exercise the real behaviour without a
database. Each backend instance has its own store. ``wait_for`` is woken as
soon as another thread stores a ready result.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from django.utils import timezone

from .. import states
from .rows import RowFormat

__all__ = ["MemoryBackend"]


class _ReadyWaiter:
    """Sleeps on the backend's condition, so a ready result ends the sleep at once."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend

    def wait(self, task_id: str, seconds: float) -> float:
        started = time.monotonic()
        with self.backend._changed:
            self.backend._changed.wait_for(lambda: self.backend._is_ready(task_id), timeout=seconds)
        return time.monotonic() - started

    def close(self) -> None:
        pass


class MemoryBackend(RowFormat):
    """Task and group results in a dict; nothing survives the process."""

    persistent = False

    def __init__(self, app: Any, url: str | None = "cache+memory://", **kwargs: Any) -> None:
        super().__init__(app, url=url, **kwargs)
        self._rows: dict[str, SimpleNamespace] = {}
        self._groups: dict[str, SimpleNamespace] = {}
        self._changed = threading.Condition()

    def _is_ready(self, task_id: str) -> bool:
        row = self._rows.get(task_id)
        return row is not None and row.status in states.READY_STATES

    def _store_result(self, task_id: str, result: Any, state: str, traceback: str | None = None,
                      request: Any = None, **kwargs: Any) -> Any:
        values = self.row_values(task_id, result, state, traceback, request)
        now = timezone.now()
        with self._changed:
            previous = self._rows.get(task_id)
            if previous is not None and previous.status == states.SUCCESS and state != states.SUCCESS:
                return values["result"]  # a success is final, as in the database backend
            if values["date_started"] is None and previous is not None:
                values["date_started"] = previous.date_started
            values["date_created"] = previous.date_created if previous is not None else now
            self._rows[task_id] = SimpleNamespace(**values, date_done=now)
            self._changed.notify_all()
        return values["result"]

    def _get_task_meta_for(self, task_id: str) -> dict[str, Any]:
        with self._changed:
            row = self._rows.get(task_id)
        if row is None:
            row = SimpleNamespace(
                task_id=task_id, status=states.PENDING, result=None, traceback=None, meta=None,
                content_type="", content_encoding="", date_started=None, date_done=None,
                **dict.fromkeys(("periodic_task_name", "task_name", "task_args", "task_kwargs", "worker",
                                 "retries", "queue")),
            )
        return self.meta_from_row(row)

    def _forget(self, task_id: str) -> None:
        with self._changed:
            self._rows.pop(task_id, None)

    def _waiter(self) -> _ReadyWaiter:
        return _ReadyWaiter(self)

    def _save_group(self, group_id: str, result: Any) -> Any:
        content_type, content_encoding, content = self.encode_content(result.as_tuple())
        with self._changed:
            self._groups[group_id] = SimpleNamespace(
                group_id=group_id, content_type=content_type, content_encoding=content_encoding,
                result=content, date_done=timezone.now(),
            )
        return result

    def _restore_group(self, group_id: str) -> dict[str, Any] | None:
        from ..result import result_from_tuple

        with self._changed:
            row = self._groups.get(group_id)
        if row is None:
            return None
        decoded = self.decode_content(row, row.result)
        return {
            "group_id": group_id,
            "result": result_from_tuple(decoded, app=self.app) if decoded else None,
            "date_done": row.date_done,
        }

    def _delete_group(self, group_id: str) -> None:
        with self._changed:
            self._groups.pop(group_id, None)

    def cleanup(self) -> None:
        """Drop results and groups older than ``result_expires``."""
        expires = self.expires
        if expires is None:
            return
        cutoff = timezone.now() - expires
        with self._changed:
            for store in (self._rows, self._groups):
                for key in [key for key, row in store.items() if row.date_done < cutoff]:
                    del store[key]
