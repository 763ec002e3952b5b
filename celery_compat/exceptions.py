"""Celery's error and warning classes, with Celery's names, bases and messages.

User code catches these (``except SoftTimeLimitExceeded``, ``except
Retry``), so each class keeps the exact MRO of its counterpart in
``celery.exceptions``:

- ``Exception``
    - ``CeleryError``
        - ``ImproperlyConfigured``, ``SecurityError``
        - ``TaskPredicate``: ``Ignore``, ``Reject``, ``Retry``
        - ``TaskError``: ``QueueNotFound`` and ``NotRegistered`` (also
          ``KeyError``), ``IncompleteStream``, ``AlreadyRegistered``,
          ``TimeoutError`` (not the builtin), ``MaxRetriesExceededError``,
          ``TaskRevokedError``, ``InvalidTaskError``, ``ChordError``
    - ``BackendError``: ``BackendGetMetaError``, ``BackendStoreError``
    - ``kombu.exceptions.KombuError``: ``OperationalError`` (kombu's own class)
    - Celery takes these from billiard (the prefork pool): ``SoftTimeLimitExceeded``,
      ``TimeLimitExceeded``, ``WorkerLostError``, ``Terminated``
- ``UserWarning`` -> ``CeleryWarning`` -> ``AlwaysEagerIgnored``, ...
- ``SystemExit`` -> ``WorkerShutdown``, ``WorkerTerminate``

The classes live in this module, but results record them under Celery's
module names (``celery.exceptions``, ``billiard.exceptions``) so that a
result written here is read as the same class by real Celery and back:
see :mod:`celery_compat.utils.serialization`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn

# OperationalError is kombu's class in Celery too: ``except OperationalError``
# must catch what kombu raises when the broker is unreachable.
# EncodeError/DecodeError are kombu's serializer errors (raised by eager
# ``delay()`` and by ``get()`` on unencodable results); Celery itself does not
# re-export them here, we do for convenience (they are not in ``__all__``).
from kombu.exceptions import DecodeError, EncodeError, OperationalError  # noqa: F401

__all__ = (
    "reraise",
    # Warnings
    "CeleryWarning",
    "AlwaysEagerIgnored",
    "DuplicateNodenameWarning",
    "DuplicateTaskNameWarning",
    "FixupWarning",
    "NotConfigured",
    "SecurityWarning",
    # Core errors
    "CeleryError",
    "ImproperlyConfigured",
    "SecurityError",
    # Kombu (messaging) errors
    "OperationalError",
    # Task semi-predicates
    "TaskPredicate",
    "Ignore",
    "Reject",
    "Retry",
    # Task related errors
    "TaskError",
    "QueueNotFound",
    "IncompleteStream",
    "NotRegistered",
    "AlreadyRegistered",
    "TimeoutError",
    "MaxRetriesExceededError",
    "TaskRevokedError",
    "InvalidTaskError",
    "ChordError",
    # Backend related errors
    "BackendError",
    "BackendGetMetaError",
    "BackendStoreError",
    # Pool (billiard in Celery) task errors
    "SoftTimeLimitExceeded",
    "TimeLimitExceeded",
    "WorkerLostError",
    "Terminated",
    # Deprecation warnings
    "CPendingDeprecationWarning",
    "CDeprecationWarning",
    # Worker shutdown semi-predicates (SystemExit subclasses)
    "WorkerShutdown",
    "WorkerTerminate",
)

UNREGISTERED_FMT = "Task of kind {0} never registered, please make sure it's imported."


def reraise(tp: type[BaseException] | None, value: BaseException, tb: TracebackType | None = None) -> NoReturn:
    """Raise ``value`` again, with traceback ``tb``; ``tp`` is ignored.

    Kept for code written against ``celery.exceptions.reraise``; new code
    should use ``raise value.with_traceback(tb)``.
    """
    if value.__traceback__ is not tb:
        raise value.with_traceback(tb)
    raise value


# -- Warnings ---------------------------------------------------------------


class CeleryWarning(UserWarning):
    """Base class for all Celery warnings."""


class AlwaysEagerIgnored(CeleryWarning):
    """``send_task()`` publishes even when ``task_always_eager`` is set."""


class DuplicateNodenameWarning(CeleryWarning):
    """Several workers use the same node name."""


class DuplicateTaskNameWarning(CeleryWarning):
    """Several callables are registered under the same task name."""


class FixupWarning(CeleryWarning):
    """A fixup (such as the Django one) could not be applied."""


class NotConfigured(CeleryWarning):
    """The app has not been configured: no configuration was found."""


class SecurityWarning(CeleryWarning):
    """A potential security issue was found."""


class CPendingDeprecationWarning(PendingDeprecationWarning):
    """A Celery feature will be deprecated."""


class CDeprecationWarning(DeprecationWarning):
    """A Celery feature is deprecated."""


# -- Core errors ------------------------------------------------------------


class CeleryError(Exception):
    """Base class for all Celery errors."""


class ImproperlyConfigured(CeleryError):
    """The configuration is invalid."""


class SecurityError(CeleryError):
    """A security check failed (e.g. a stored exception names a non-exception)."""


# -- Task semi-predicates ---------------------------------------------------


class TaskPredicate(CeleryError):
    """Base class for the exceptions a task raises to steer the worker."""


class Retry(TaskPredicate):
    """The task is to be retried later; raised by ``Task.retry()``.

    ``str()`` is ``message`` when given, else ``"Retry in 0.2s: MyErr('flaky')"``
    for a number of seconds or ``"Retry at <eta>"`` for a datetime.
    """

    #: Optional message describing the context of the retry.
    message: str | None = None
    #: The exception (if any) that caused the retry.
    exc: BaseException | None = None
    #: When to retry: seconds (a number) or an ETA (a datetime).
    when: float | datetime | None = None

    def __init__(
        self,
        message: str | None = None,
        exc: BaseException | str | None = None,
        when: float | datetime | None = None,
        is_eager: bool = False,
        sig: Any = None,
        **kwargs: Any,
    ) -> None:
        # serialization.py reads this module's classes at import time, so it
        # can only be imported once this module exists, i.e. here.
        from kombu.utils.encoding import safe_repr

        from .utils.serialization import get_pickleable_exception

        self.message = message
        #: repr() of the exception, shown by str(); a string ``exc`` is kept as is.
        self.excs: str | None
        if isinstance(exc, str):
            self.exc, self.excs = None, exc
        else:
            # The retry travels through the pool and the result backend, so
            # keep a picklable stand-in, and its repr for the message.
            self.exc = get_pickleable_exception(exc) if exc is not None else None
            self.excs = safe_repr(exc) if exc else None
        self.when = when
        self.is_eager = is_eager
        self.sig = sig
        # Celery puts the instance itself first in ``args``; kept so that
        # repr() and stored results look the same. Extra keyword arguments
        # reach Exception.__init__, which refuses them, as in Celery.
        super().__init__(self, exc, when, **kwargs)

    def humanize(self) -> str:
        """Describe ``when``: ``'in 0.2s'`` for seconds, ``'at <when>'`` otherwise."""
        if isinstance(self.when, numbers.Number):
            return f"in {self.when}s"
        return f"at {self.when}"

    def __str__(self) -> str:
        if self.message:
            return self.message
        if self.excs:
            return f"Retry {self.humanize()}: {self.excs}"
        return f"Retry {self.humanize()}"

    def __reduce__(self) -> tuple[type[Retry], tuple[Any, ...]]:
        return self.__class__, (self.message, self.exc, self.when)


#: Old name of :class:`Retry`.
RetryTaskError = Retry


class Ignore(TaskPredicate):
    """Raised by a task to end without recording any state change."""


class Reject(TaskPredicate):
    """Raised by a task to reject its message, re-queueing it if ``requeue``."""

    def __init__(self, reason: Any = None, requeue: bool = False) -> None:
        self.reason = reason
        self.requeue = requeue
        super().__init__(reason, requeue)

    def __repr__(self) -> str:
        return f"reject requeue={self.requeue}: {self.reason}"


# -- Task errors ------------------------------------------------------------


class TaskError(CeleryError):
    """Base class for task-related errors."""


class QueueNotFound(KeyError, TaskError):
    """A task was routed to a queue missing from ``task_queues``."""


class IncompleteStream(TaskError):
    """A stream of data ended before the data was complete."""


class NotRegistered(KeyError, TaskError):
    """No task is registered under this name; ``repr()`` says how to fix it."""

    def __repr__(self) -> str:
        return UNREGISTERED_FMT.format(self)


class AlreadyRegistered(TaskError):
    """A task is already registered under this name (unused, as in Celery)."""


# Shadows the builtin on purpose, as in Celery: ``get(timeout=)`` raises this.
class TimeoutError(TaskError):
    """The operation timed out (``AsyncResult.get(timeout=...)``); not the builtin."""


class MaxRetriesExceededError(TaskError):
    """The task has been retried ``max_retries`` times already.

    ``task_args`` and ``task_kwargs`` hold the arguments of the last attempt
    (empty when not given).
    """

    def __init__(
        self,
        *args: Any,
        task_args: Sequence[Any] | None = None,
        task_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.task_args = [] if task_args is None else task_args
        self.task_kwargs = {} if task_kwargs is None else task_kwargs
        super().__init__(*args, **kwargs)


class TaskRevokedError(TaskError):
    """The task was revoked; the message is ``'revoked'``, ``'expired'`` or ``'terminated'``."""


class InvalidTaskError(TaskError):
    """The task message is invalid or malformed."""


class ChordError(TaskError):
    """A task in a chord's header failed, so the body cannot run."""


# -- Backend errors ---------------------------------------------------------


class BackendError(Exception):
    """An error writing to or reading from the result backend."""


class BackendGetMetaError(BackendError):
    """An error reading a result from the backend; ``task_id`` names the task."""

    # Like Celery, Exception.__init__ is not called: ``args`` is already set
    # by Exception.__new__ and would refuse the keyword arguments.
    def __init__(self, *args: Any, task_id: str = "", **kwargs: Any) -> None:
        self.task_id = task_id

    def __repr__(self) -> str:
        return f"{super().__repr__()} task_id:{self.task_id}"


class BackendStoreError(BackendError):
    """An error storing a result; ``state`` and ``task_id`` name what was stored."""

    def __init__(self, *args: Any, state: str = "", task_id: str = "", **kwargs: Any) -> None:
        self.state = state
        self.task_id = task_id

    def __repr__(self) -> str:
        return f"{super().__repr__()} state:{self.state} task_id:{self.task_id}"


# -- Pool errors (billiard.exceptions in Celery) -----------------------------


class SoftTimeLimitExceeded(Exception):
    """Raised inside a task when its soft time limit expires, so it can clean up."""

    def __str__(self) -> str:
        return f"SoftTimeLimitExceeded{self.args}"


class TimeLimitExceeded(Exception):
    """The hard time limit expired and the task was terminated; args hold the limit."""

    def __str__(self) -> str:
        return f"TimeLimitExceeded{self.args}"


class WorkerLostError(Exception):
    """The process running the task exited prematurely."""


class Terminated(Exception):
    """The task was terminated on request (``revoke(terminate=True)``)."""


# -- Worker shutdown ----------------------------------------------------------


class WorkerTerminate(SystemExit):
    """Raised to make the worker terminate immediately (cold shutdown)."""


#: Old name of :class:`WorkerTerminate`.
SystemTerminate = WorkerTerminate


class WorkerShutdown(SystemExit):
    """Raised to make the worker shut down after its current tasks (warm shutdown)."""
