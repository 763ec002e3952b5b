"""Running one task where the pool put it: a thread, the consumer, a child.

:func:`execute` calls :func:`celery_compat.trace.trace_task` (signals,
handlers, links, stored result) and logs the outcome as Celery's worker
does; it returns a small picklable :class:`Outcome` that the consumer side
turns into an ack or a reject. Django connections are checked around every
task (:func:`task_connections`), as Celery's Django fix-up does, so a task
never inherits a broken or stale connection; with ``CONN_MAX_AGE=0`` they are
kept while usable instead of reopened per task (:func:`close_old_connections`).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from kombu_transport_django.pickling import pickled_as_tuple

from .. import signals, states
from ..exceptions import Reject
from ..protocol import saferepr
from ..trace import ExceptionInfo, trace_task

if TYPE_CHECKING:
    from ..app import Celery

#: Celery's logger for task outcomes (celery.app.trace), so LOGGING configs keep working.
logger = logging.getLogger("celery.app.trace")


@pickled_as_tuple
@dataclass(frozen=True, slots=True)
class Outcome:
    """How a task run ended, as the pool reports it to the consumer side."""

    state: str
    runtime: float = 0.0
    #: for REJECTED: whether ``Reject(requeue=True)`` asked for redelivery
    requeue: bool = False


@pickled_as_tuple
@dataclass(frozen=True, slots=True)
class Job:
    """What a pool needs to run one request; picklable for prefork children."""

    number: int
    task_name: str
    task_id: str
    display_name: str
    args: list[Any]
    kwargs: dict[str, Any]
    request_dict: dict[str, Any]
    #: the transport's start ticket: ``start()`` before running, and run only if True
    start: Any = None


#: a reused connection idle for this long is checked (``is_usable()``) before a
#: task uses it; one used more recently is known to work
CHECK_AFTER_IDLE = 1.0


def close_old_connections() -> None:
    """Close broken or expired Django connections between two tasks.

    Django's ``close_old_connections`` (as Celery's Django fix-up calls it
    around every task), with two changes for a long-running worker:

    * a connection inside ``atomic()`` is left alone: a worker run from a
      test (``testing.drain`` in a ``TestCase``) must not close the
      connection that holds the test's transaction;
    * ``CONN_MAX_AGE=0``, Django's default, means "a new connection per
      request" to a web server; a worker taking it literally reconnects for
      every task (and, with the solo pool, for every claim and ack on the
      same connection): several times slower. The worker keeps such a
      connection instead, as long as it works: closed after an error that
      left it unusable or outside autocommit (as Django does), and checked
      with ``is_usable()`` (Django's ``CONN_HEALTH_CHECKS``) before a task
      uses it after :data:`CHECK_AFTER_IDLE` seconds without a query, so a
      connection broken by a database restart or an idle timeout is
      replaced instead of failing the task.

    A positive ``CONN_MAX_AGE`` (or ``None``) keeps Django's meaning, with
    ``CONN_HEALTH_CHECKS`` as the project sets it. Django's connection pool
    (PostgreSQL ``OPTIONS["pool"]``) already hands out healthy connections
    cheaply, so it keeps Django's behaviour too.
    """
    from django.db import connections

    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue
        reuse = (conn.connection is not None and conn.settings_dict.get("CONN_MAX_AGE") == 0
                 and not getattr(conn, "pool", None))
        if reuse:
            conn.close_at = None
            conn.health_check_enabled = True
            if _note_use not in conn.execute_wrappers:
                conn.execute_wrappers.append(_note_use)
        conn.close_if_unusable_or_obsolete()
        if reuse and conn.connection is not None:
            # close_if_unusable_or_obsolete() asked for a check before the
            # next query; skip it for a connection that just worked.
            used_at = getattr(conn, "_worker_used_at", float("-inf"))
            conn.health_check_done = now - used_at < CHECK_AFTER_IDLE


def _note_use(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Django execute wrapper: when this thread's connection last ran a query."""
    # Django's connections are per thread, so an attribute of it is too.
    context["connection"]._worker_used_at = time.monotonic()
    return execute(sql, params, many, context)


@contextmanager
def task_connections() -> Iterator[None]:
    """Close stale Django connections before and after the enclosed task."""
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


def execute(app: Celery, job: Job) -> Outcome:
    """Run ``job`` in this thread and log its outcome like Celery's tracer."""
    task = app.tasks[job.task_name]
    try:
        traced = trace_task(task, job.task_id, job.args, job.kwargs, job.request_dict)
    except Exception as exc:
        return _internal_error(task, job, exc)
    state, retval = traced.state, traced.retval
    if state == states.SUCCESS:
        logger.info(
            "Task %s[%s] succeeded in %ss: %s",
            job.display_name, job.task_id, round(traced.runtime, 6),
            saferepr(retval, getattr(task, "resultrepr_maxsize", 1024)),
        )
    elif state == states.IGNORED:
        logger.info("Task %s[%s] ignored", job.display_name, job.task_id)
    elif state == states.REJECTED:
        logger.warning("Task %s[%s] %r", job.display_name, job.task_id, retval)
        requeue = bool(isinstance(retval, Reject) and retval.requeue)
        return Outcome(state, traced.runtime, requeue=requeue)
    return Outcome(state, traced.runtime)


def _internal_error(task: Any, job: Job, exc: Exception) -> Outcome:
    # The tracer itself failed (typically: the result backend is down while
    # storing). Celery logs it as an INTERNAL ERROR and fails the task.
    einfo = ExceptionInfo.capture(exc)
    logger.critical("Task %s[%s] INTERNAL ERROR: %r", job.display_name, job.task_id, exc, exc_info=exc)
    signals.task_internal_error.send(
        sender=task, task_id=job.task_id, args=job.args, kwargs=job.kwargs,
        request=job.request_dict, exception=exc, traceback=einfo.tb, einfo=einfo,
    )
    try:
        task.backend_for_results.mark_as_failure(job.task_id, exc, einfo.traceback)
    except Exception:
        logger.exception("Could not store the failure of %s[%s]", job.display_name, job.task_id)
    return Outcome(states.FAILURE)
