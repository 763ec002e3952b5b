"""Celery's logger hierarchy and the task log formatter.

The logger *names* are Celery's, on purpose: a project's ``LOGGING`` setting
that configures ``celery``, ``celery.task`` or ``celery.worker`` keeps working
after switching to ``celery_compat``. As in Celery:

- every logger from :func:`get_logger` hangs under the ``celery`` logger
  (unless it is a direct child of the root logger);
- every logger from :func:`get_task_logger` hangs under ``celery.task``,
  whatever its name: ``get_task_logger(__name__)`` in ``myapp/tasks.py`` is
  ``logging.getLogger('myapp.tasks')`` re-parented to ``celery.task``;
- loggers with no handler get a ``NullHandler`` (via kombu), so an
  unconfigured project does not print task logs through Python's last-resort
  handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kombu.log import get_logger as _get_logger

__all__ = (
    "RESERVED_LOGGER_NAMES",
    "TaskFormatter",
    "base_logger",
    "get_logger",
    "get_task_logger",
    "task_logger",
    "worker_logger",
)

#: Names :func:`get_task_logger` refuses: they are the parents of every task logger.
RESERVED_LOGGER_NAMES = frozenset({"celery", "celery.task"})


def _no_current_task() -> Any:
    return None


#: Returns the task being executed in this thread, or None. The task modules
#: set this when they load; until then no task is ever current.
_current_task_getter: Callable[[], Any] = _no_current_task

#: The ``celery`` logger: the ancestor of every logger from :func:`get_logger`.
base_logger = logger = _get_logger("celery")


def _descends_from(child: logging.Logger, ancestor: logging.Logger) -> bool:
    seen: set[int] = set()
    current: logging.Logger | None = child
    while current is not None:
        if current is ancestor:
            return True
        if id(current) in seen:
            raise RuntimeError(f"Logger {child.name!r} parents recursive")
        seen.add(id(current))
        current = current.parent
    return False


def _adopt(parent: logging.Logger, child: logging.Logger) -> logging.Logger:
    # Re-parenting rather than renaming keeps the logger the user asked for
    # (its own level and handlers) while routing its records through `parent`.
    if not _descends_from(child, parent):
        child.parent = parent
    return child


def get_logger(name: str | logging.Logger) -> logging.Logger:
    """Return the logger ``name``, placed under the ``celery`` logger.

    A logger whose parent is the root logger is left where it is.
    """
    found: logging.Logger = _get_logger(name)
    if logging.root not in (found, found.parent) and found is not base_logger:
        found = _adopt(base_logger, found)
    return found


#: Parent of every task logger; configure it to route all task logs.
task_logger = get_logger("celery.task")
#: The worker's own logger.
worker_logger = get_logger("celery.worker")


def get_task_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` (usually ``__name__``) as a child of ``celery.task``.

    Raises:
        RuntimeError: ``name`` is ``'celery'`` or ``'celery.task'``, which
            would make the task logger its own ancestor.
    """
    if name in RESERVED_LOGGER_NAMES:
        raise RuntimeError(f"Logger name {name!r} is reserved!")
    return _adopt(task_logger, get_logger(name))


class TaskFormatter(logging.Formatter):
    """A formatter that can use ``%(task_name)s`` and ``%(task_id)s``.

    Inside a task they are the running task's name and id; elsewhere they
    are ``'???'``, unless the record already carries them (``extra=``).

    ``use_color`` is accepted for Celery's signature (``LOGGING`` configs
    pass it) but ignored: this formatter never colours its output.
    """

    def __init__(self, fmt: str | None = None, use_color: bool = True, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self.use_color = use_color

    def format(self, record: logging.LogRecord) -> str:
        task = _current_task_getter()
        request = getattr(task, "request", None) if task is not None else None
        if request:
            record.__dict__.update(task_id=request.id, task_name=task.name)
        else:
            record.__dict__.setdefault("task_name", "???")
            record.__dict__.setdefault("task_id", "???")
        return super().format(record)
