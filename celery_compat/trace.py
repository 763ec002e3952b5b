"""Running one task: signals, handlers, links and the stored result.

Shared by eager mode (``Task.apply``) and the worker, so both follow the
same order as Celery: ``task_prerun`` → body → (links published) → result
stored → ``task_success``/``task_failure``/``task_retry`` → ``after_return``
→ ``task_postrun``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import socket
import sys
import time
import traceback as tb_module
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from kombu.exceptions import EncodeError

from . import nextstart, signals, states
from ._state import pop_current_task, push_current_task
from .exceptions import Ignore, Reject, Retry
from .tasklog import capture_task_log, log_lines_setting

if TYPE_CHECKING:
    from .task import Task

logger = logging.getLogger("celery.app.trace")


@dataclass
class ExceptionInfo:
    """What Celery hands ``on_failure`` as ``einfo``."""

    exception: BaseException
    type: type[BaseException]
    tb: Any
    traceback: str

    @classmethod
    def capture(cls, exc: BaseException) -> ExceptionInfo:
        text = "".join(tb_module.format_exception(type(exc), exc, exc.__traceback__))
        return cls(exc, type(exc), exc.__traceback__, text)

    def __str__(self) -> str:
        return self.traceback


@dataclass
class TraceOutcome:
    state: str
    retval: Any
    traceback: str | None
    einfo: ExceptionInfo | None
    runtime: float


def trace_task(
    task: Task,
    task_id: str,
    args: list[Any],
    kwargs: dict[str, Any],
    request: Mapping[str, Any],
    eager: bool = False,
) -> TraceOutcome:
    """Run ``task`` once with ``request`` as its context; store the outcome."""
    started = time.monotonic()
    backend = task.backend_for_results
    if not eager:
        done = _already_succeeded(task, task_id, request)
        if done is not None:
            return TraceOutcome(done[0], done[1], None, None, time.monotonic() - started)
    # The call's ignore_result (message header) beats the task's attribute, as in Celery.
    ignore_result = request.get("ignore_result")
    ignore_result = bool(task.ignore_result if ignore_result is None else ignore_result)
    # Eager runs store nothing unless task_store_eager_result says so.
    store = not eager or bool(task.store_eager_result)
    store_errors = store and (not ignore_result or bool(task.store_errors_even_if_ignored))
    store_success = store and not ignore_result

    # The task's own log lines, kept with its result (tasklog.py); not for ignore_result.
    # Read first: a bad task_log_lines fails here, before any state is pushed.
    log_capture = capture_task_log(log_lines_setting(task.app) if store_success else 0)

    push_current_task(task)
    task.push_request(**request)
    ctx = task.request
    state, retval, einfo = states.SUCCESS, None, None
    signals.task_prerun.send(sender=task, task_id=task_id, task=task, args=args, kwargs=kwargs)
    log_buffer = log_capture.__enter__()
    try:
        try:
            task.before_start(task_id, args, kwargs)
            if task.track_started and store_success:
                backend.store_result(
                    task_id, {"pid": os.getpid(), "hostname": socket.gethostname()}, states.STARTED, request=ctx
                )
            retval = task.run(*args, **kwargs)
        except Ignore as exc:
            state, retval, einfo = states.IGNORED, exc, None
        except Reject as exc:
            state, retval, einfo = states.REJECTED, exc, None
            if not exc.requeue and not eager:
                _on_dropped(task, ctx, exc, store_errors)
        except Retry as exc:
            state, retval, einfo = _on_retry(task, ctx, exc, store_errors)
        except Exception as exc:
            state, retval, einfo = _on_failure(task, ctx, exc, store_errors, eager)
        else:
            try:
                _on_success(task, ctx, retval, store_success)
            except EncodeError as exc:
                # A return value the result serializer cannot encode: FAILURE.
                state, retval, einfo = _on_failure(task, ctx, exc, store_errors, eager)
        if state not in (states.RETRY, states.IGNORED, states.REJECTED):
            _safe(task.after_return, state, retval, task_id, args, kwargs, einfo)
    finally:
        log_capture.__exit__(None, None, None)
        if log_buffer is not None and log_buffer.lines:
            _safe(backend.store_task_log, task_id, list(log_buffer.lines), log_buffer.lines.maxlen)
        signals.task_postrun.send(
            sender=task, task_id=task_id, task=task, args=args, kwargs=kwargs, retval=retval, state=state
        )
        task.pop_request()
        pop_current_task()
    return TraceOutcome(state, retval, einfo.traceback if einfo else None, einfo, time.monotonic() - started)


def _already_succeeded(task: Task, task_id: str, request: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``worker_deduplicate_successful_tasks``: ``(SUCCESS, stored result)`` of a redelivered run that already succeeded.

    As Celery: only for ``acks_late`` tasks on a persistent backend, only
    for a message the broker says is redelivered (its earlier delivery may
    have run to the end before its worker died, unacked). Such a run is not
    run again; its callbacks and chain are sent if the stored result has no
    children (the earlier run died before sending them); if they cannot be
    sent, ``(REJECTED, Reject(requeue=True))``. ``None`` when the task must run.
    """
    app = task.app
    if not (app.conf.worker_deduplicate_successful_tasks and (app.conf.task_acks_late or task.acks_late)):
        return None
    delivery_info = request.get("delivery_info") or {}
    backend = task.backend_for_results
    if not delivery_info.get("redelivered") or not getattr(backend, "persistent", False):
        return None
    try:
        meta = backend.get_task_meta(task_id, cache=False)
    except Exception:  # noqa: BLE001  the backend cannot tell: run it, as Celery does
        return None
    if meta.get("status") != states.SUCCESS:
        return None
    logger.info("Task %s[%s] %s", task.name, task_id, "Task already completed successfully.")
    if (request.get("callbacks") or request.get("chain")) and not meta.get("children"):
        from .context import Context

        try:
            _apply_callbacks(task, Context(dict(request), id=task_id), meta.get("result"))
        except Exception as exc:
            logger.error("Failed to dispatch chain/callbacks for deduplicated task %s", task_id, exc_info=True)
            return states.REJECTED, Reject(exc, requeue=True)
    return states.SUCCESS, meta.get("result")


def _safe(handler: Any, *args: Any) -> None:
    try:
        handler(*args)
    except Exception:
        logger.exception("Task handler %r raised", handler)


def _on_success(task: Task, ctx: Any, retval: Any, store: bool) -> None:
    # Celery publishes callbacks and the next chain step before storing.
    _apply_callbacks(task, ctx, retval)
    if store or (ctx.chord and not ctx.is_eager):
        # A chord header part counts even when its result is not stored.
        with nextstart.final_store(ctx.id):
            task.backend_for_results.mark_as_done(ctx.id, retval, request=ctx, store_result=store)
    _safe(task.on_success, retval, ctx.id, ctx.args, ctx.kwargs)
    signals.task_success.send(sender=task, result=retval)


def _on_retry(task: Task, ctx: Any, exc: Retry, store: bool) -> tuple[str, Any, ExceptionInfo]:
    einfo = ExceptionInfo.capture(exc)
    reason = exc.exc if exc.exc is not None else exc
    if store:
        task.backend_for_results.mark_as_retry(ctx.id, reason, einfo.traceback, request=ctx)
    _safe(task.on_retry, reason, ctx.id, ctx.args, ctx.kwargs, einfo)
    signals.task_retry.send(sender=task, request=ctx, reason=exc, einfo=einfo)
    logger.info("Task %s[%s] retry: %s", task.name, ctx.id, exc)
    return states.RETRY, exc, einfo


def _on_dropped(task: Task, ctx: Any, exc: Reject, store: bool) -> None:
    # Celery 5.7 (issue #4222): a task that rejects its message without
    # requeue never runs again, so it is FAILURE (errbacks, chord part,
    # task_failure signal) instead of PENDING forever; not on_failure.
    einfo = ExceptionInfo.capture(exc)
    if store or ctx.chord:
        task.backend_for_results.mark_as_failure(ctx.id, exc, request=ctx, store_result=store)
    _call_errbacks(task, ctx, exc, einfo)
    signals.task_failure.send(
        sender=task, task_id=ctx.id, exception=exc, args=ctx.args, kwargs=ctx.kwargs,
        traceback=einfo.tb, einfo=einfo,
    )


def _on_failure(task: Task, ctx: Any, exc: BaseException, store: bool, eager: bool) -> tuple[str, Any, ExceptionInfo]:
    einfo = ExceptionInfo.capture(exc)
    fail_workflow(task, ctx, exc, einfo, store, chord_part=not eager)
    _safe(task.on_failure, exc, ctx.id, ctx.args, ctx.kwargs, einfo)
    signals.task_failure.send(
        sender=task, task_id=ctx.id, exception=exc, args=ctx.args, kwargs=ctx.kwargs,
        traceback=einfo.tb, einfo=einfo,
    )
    if isinstance(exc, tuple(task.throws or ())):
        logger.info("Task %s[%s] raised expected: %r", task.name, ctx.id, exc)
    elif not eager:
        logger.error("Task %s[%s] raised unexpected: %r", task.name, ctx.id, exc, exc_info=exc)
    return states.FAILURE, exc, einfo


def fail_workflow(task: Task, ctx: Any, exc: BaseException, einfo: ExceptionInfo, store: bool,
                  chord_part: bool = True) -> None:
    """Record ``ctx``'s task as failed with ``exc``, as Celery's ``backend.mark_as_failure`` does.

    Stores ``FAILURE`` (when ``store``), counts it as a returned chord part
    (also when not stored), fails every later step of its chain with the
    same error (a later step that was a chord header part counts as
    returned), and calls its errbacks. Used for a raised exception and for
    a run whose worker process died (``WorkerLostError``).
    """
    backend = task.backend_for_results
    if store or (ctx.chord and chord_part):
        backend.mark_as_failure(ctx.id, exc, einfo.traceback, request=ctx, store_result=store)
    if store:
        for sig in ctx.chain or ():
            options = sig.get("options") or {}
            later_id = options.get("task_id")
            if not later_id:
                continue
            part = None
            if options.get("chord") and options.get("group_id"):
                part = ctx.__class__(id=later_id, group=options["group_id"], chord=options["chord"],
                                     group_index=options.get("group_index"), root_id=ctx.root_id)
            backend.mark_as_failure(later_id, exc, einfo.traceback, request=part)
    _call_errbacks(task, ctx, exc, einfo)


def _signature(app: Any, value: Any) -> Any:
    from .canvas import signature

    return signature(value, app=app)


def _apply_callbacks(task: Task, ctx: Any, retval: Any) -> None:
    app = task.app
    parent = {"parent_id": ctx.id, "root_id": ctx.root_id or ctx.id}
    callbacks = [_signature(app, cb) for cb in ctx.callbacks or ()]
    if len(callbacks) > 1 and not ctx.is_eager:
        # As Celery: several links are sent as one group (groups among them on their own).
        from .canvas import group

        plain = [cb for cb in callbacks if not isinstance(cb, group)]
        callbacks = [cb for cb in callbacks if isinstance(cb, group)]
        if plain:
            callbacks.insert(0, group(plain, app=app))
    for callback in callbacks:
        _dispatch(ctx, callback, (retval,), parent)
    chain = list(ctx.chain or ())
    if chain:
        next_step = _signature(app, chain.pop())
        _dispatch(ctx, next_step, (retval,), dict(parent, chain=chain or None))


def _dispatch(ctx: Any, sig: Any, args: tuple[Any, ...], options: dict[str, Any]) -> None:
    if ctx.is_eager:
        sig.apply(args, **options)
    else:
        # Publishing from a running task records the child (publish.py).
        sig.apply_async(args, **options)


def _call_errbacks(task: Task, ctx: Any, exc: BaseException, einfo: ExceptionInfo) -> None:
    app = task.app
    old_style = []
    for errback in ctx.errbacks or ():
        sig = _signature(app, errback)
        target = app.tasks.get(sig.task) if hasattr(app.tasks, "get") else None
        if target is not None and _is_new_style(target, sig):
            # New-style errback: called in the worker, with the request (and its own partial args).
            try:
                sig(ctx, exc, einfo.traceback)
            except Exception:
                logger.exception("Errback %s raised", sig.task)
        else:
            old_style.append(sig)
    if old_style:
        # As Celery: the old-style ones are applied with the failed task's id
        # as one group (each gets the group's id and its index in its request).
        from .canvas import group

        _dispatch(ctx, group(old_style, app=app), (ctx.id,),
                  {"parent_id": ctx.id, "root_id": ctx.root_id or ctx.id})


def _is_new_style(task: Any, sig: Any = None) -> bool:
    """Whether an errback is called ``errback(request, exc, traceback)`` in the worker, as Celery 5.7 decides.

    Only a task made by the decorator without ``bind=True`` can be (Celery
    looks at the function's ``__header__``, which class-based tasks lack
    and bound ones have as a partial); then it is one whose function takes
    more than one argument, after a mutable signature's own arguments are
    bound from the left. Otherwise it is old-style: applied with the
    failed task's id.
    """
    run = type(task).__dict__.get("run")
    if not getattr(type(task), "_decorated", False) or not isinstance(run, staticmethod):
        return False
    fun = run.__func__
    if sig is not None and not sig.immutable and (sig.args or sig.kwargs):
        try:
            return _arity_greater(functools.partial(fun, *sig.args, **sig.kwargs), 1)
        except (TypeError, ValueError):
            pass
    return _arity_greater(fun, 1)


def _arity_greater(fun: Any, n: int) -> bool:
    spec = inspect.getfullargspec(fun)
    return bool(spec.varargs) or len(spec.args) > n


def format_exc(exc: BaseException) -> str:
    return "".join(tb_module.format_exception(type(exc), exc, exc.__traceback__))


__all__ = ["trace_task", "TraceOutcome", "ExceptionInfo", "format_exc", "sys"]
