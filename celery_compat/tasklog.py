"""The lines a task logs, kept with its result.

While a task runs (:func:`celery_compat.trace.trace_task`), every record
that reaches the ``celery.task`` logger from this thread, that is every
line logged through ``get_task_logger(...)``, is also kept in a bounded
buffer. After the outcome is stored, the last ``task_log_lines`` physical
lines (``CELERY_TASK_LOG_LINES``, default 100; 0 turns it off) are written
to ``TaskResult.log`` by the result backend, appended to the lines of
earlier attempts (retries) and cut to the same limit. Tasks whose result is
not stored (``ignore_result``) keep nothing.

The records still go wherever the project's logging sends them: this is a
copy for a person reading the admin, not a replacement for worker logs.
Only records the loggers let through are seen: with the worker at
``-l WARNING`` a task's INFO lines are not kept either.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["DEFAULT_LOG_LINES", "LOG_FORMAT", "capture_task_log", "log_lines_setting"]

#: Default of ``task_log_lines``.
DEFAULT_LOG_LINES = 100
#: How each kept record is formatted.
LOG_FORMAT = "[%(asctime)s: %(levelname)s] %(message)s"

_local = threading.local()
_install_lock = threading.Lock()


class TaskLogBuffer:
    """The last ``limit`` physical lines logged by one task run."""

    def __init__(self, limit: int) -> None:
        self.lines: deque[str] = deque(maxlen=limit)

    def add(self, text: str) -> None:
        self.lines.extend(text.splitlines() or [""])


class _CaptureHandler(logging.Handler):
    """Copies records to the buffer of the task running in the emitting thread."""

    def emit(self, record: logging.LogRecord) -> None:
        buffer = getattr(_local, "buffer", None)
        if buffer is None:
            return
        try:
            buffer.add(self.format(record))
        except Exception:  # a broken record must not fail the task
            self.handleError(record)


_handler: _CaptureHandler | None = None


def _install() -> None:
    """Attach the capture handler to ``celery.task`` once per process."""
    global _handler
    if _handler is not None:
        return
    with _install_lock:
        if _handler is None:
            handler = _CaptureHandler(logging.NOTSET)
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            logging.getLogger("celery.task").addHandler(handler)
            _handler = handler


def log_lines_setting(app: Any) -> int:
    """``task_log_lines`` from the app's settings (``CELERY_TASK_LOG_LINES``).

    Raises:
        ValueError: the setting is not a non-negative integer.
    """
    value = app.conf.get("task_log_lines", DEFAULT_LOG_LINES)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"task_log_lines (CELERY_TASK_LOG_LINES) must be a whole number >= 0, got {value!r}; "
            f"0 keeps no task log lines"
        )
    return value


@contextmanager
def capture_task_log(limit: int) -> Iterator[TaskLogBuffer | None]:
    """Keep what this thread logs to ``celery.task`` while inside; yields the buffer.

    ``limit`` 0 captures nothing (yields None). Nested captures (an eager
    task called from a task) each keep their own lines.
    """
    if limit <= 0:
        yield None
        return
    _install()
    previous = getattr(_local, "buffer", None)
    buffer = TaskLogBuffer(limit)
    _local.buffer = buffer
    try:
        yield buffer
    finally:
        _local.buffer = previous
