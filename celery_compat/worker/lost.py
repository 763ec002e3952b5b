"""Runs whose worker died: stored as ``FAILURE`` with ``WorkerLostError``.

With the ``django://`` transport an early-acked message (``acks_late=False``)
stays as a running row until its run ends. When the worker process dies
first, a live consumer's lease reaper keeps the row as dead and sends
:data:`kombu_transport_django.signals.running_lost`; :func:`store_lost_runs`
then records each run as Celery records a pool process that died mid-task:
``FAILURE`` with ``WorkerLostError`` (stored as ``billiard.exceptions``), so
``AsyncResult.get()`` raises instead of waiting forever, chords and the rest
of its chain fail, its errbacks are called, and the admin shows it. It is
not run again by itself unless the task has ``retry_on_worker_lost`` (then
it is sent again as for a pool process that died); the dead row's "requeue"
action in the admin re-runs it.

A run that finished before its worker died (only the row's deletion was
lost) already has a final state: that is kept and the dead row deleted.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import signals, states
from ..context import Context
from ..exceptions import WorkerLostError
from ..protocol import parse
from .request import custom_headers

if TYPE_CHECKING:
    from kombu_transport_django.signals import LostRun

    from ..app import Celery

logger = logging.getLogger("celery.worker.lost")

__all__ = ["connect", "retry_lost_run", "store_lost_runs"]


def connect(app: Celery) -> None:
    """Have this process store the lost runs its reaper finds (one receiver a process)."""
    try:
        from kombu_transport_django.signals import running_lost
    except ImportError:  # the transport is not installed: nothing to receive
        return

    def receiver(sender: Any, using: str, runs: list[LostRun], **kwargs: Any) -> None:
        store_lost_runs(app, runs, using)

    running_lost.connect(receiver, weak=False, dispatch_uid="celery_compat.worker.lost")


def store_lost_runs(
    app: Celery, runs: Iterable[LostRun], using: str | None = None
) -> int:
    """Store ``FAILURE``/``WorkerLostError`` for each run; the number stored."""
    stored = 0
    for run in runs:
        try:
            stored += _store(app, run, using)
        except Exception:
            # The dead row keeps the reason: visible even if this failed.
            logger.exception(
                "Could not store the failure of lost run %s[%s]",
                run.task_name,
                run.task_id,
            )
    return stored


def _decode(payload: dict[str, Any], accept: Any) -> Any:
    from kombu.serialization import loads, prepare_accept_content

    properties = payload.get("properties") or {}
    body = payload.get("body")
    if properties.get("body_encoding") == "base64" and isinstance(body, str):
        body = base64.b64decode(body)
    return loads(
        body,
        payload.get("content-type"),
        payload.get("content-encoding") or "utf-8",
        accept=prepare_accept_content(accept),  # "json" -> "application/json", as kombu's Consumer does
    )


def _store(app: Celery, run: LostRun, using: str | None) -> int:
    payload = json.loads(run.payload)
    headers = payload.get("headers") or {}
    task_id = headers.get("id") or run.task_id
    name = headers.get("task") or run.task_name
    if not task_id:
        return 0
    task = app.tasks.get(name)
    ignore_result = headers.get("ignore_result")
    if ignore_result is None:
        ignore_result = bool(task is not None and task.ignore_result)
    if ignore_result and not (task is not None and task.store_errors_even_if_ignored):
        return 0  # no result wanted: the dead row with its reason is the record
    backend = task.backend_for_results if task is not None else app.backend
    meta = backend.get_task_meta(task_id, cache=False)
    if meta.get("status") in states.READY_STATES:
        _forget_dead_row(
            run, using
        )  # it ran to the end; only the row's deletion was lost
        return 0
    try:
        incoming = parse(headers, _decode(payload, app.conf.accept_content))
        args, kwargs, embed = incoming.args, incoming.kwargs, incoming.embed
    except Exception:  # noqa: BLE001  an undecodable body still gets its failure stored
        args, kwargs, embed = [], {}, {}
    properties = payload.get("properties") or {}
    request = Context(
        {
            key: headers.get(key)
            for key in ("id", "task", "root_id", "parent_id", "group", "group_index")
        },
        retries=headers.get("retries") or 0,
        called_directly=False,
        is_eager=False,
        name=name,
        args=args,
        kwargs=kwargs,
        chord=embed.get("chord"),
        errbacks=embed.get("errbacks"),
        callbacks=embed.get("callbacks"),
        chain=embed.get("chain"),
        headers=custom_headers(headers),
        ignore_result=False,
        correlation_id=properties.get("correlation_id"),
        reply_to=properties.get("reply_to"),
        hostname=run.owner.rsplit("@", 1)[-1],
        delivery_info={"routing_key": run.queue, "redelivered": False},
    )
    exc = WorkerLostError(
        f"Worker exited prematurely: the worker process running it ({run.owner}) died."
    )
    if task is not None:
        # As a run whose pool process died: sent again with retry_on_worker_lost,
        # else the chain's later steps fail and errbacks are called.
        from ..trace import ExceptionInfo, fail_workflow

        try:
            raise exc
        except WorkerLostError as raised:
            einfo = ExceptionInfo.capture(raised)
        if task.retry_on_worker_lost and retry_lost_run(task, vars(request), exc, einfo, store_errors=True):
            _forget_dead_row(run, using)
            return 1
        fail_workflow(task, request, exc, einfo, store=True)
    else:
        backend.mark_as_failure(task_id, exc, None, request=request)
    logger.error(
        "Task %s[%s] raised unexpected: %r (its worker died while it ran; not run again)",
        name,
        task_id,
        exc,
    )
    return 1


def retry_lost_run(task: Any, request: dict[str, Any], exc: BaseException, einfo: Any, store_errors: bool) -> bool:
    """``retry_on_worker_lost``: send a run whose worker died again, as ``retry()`` would.

    As Celery 5.7: ``max_retries`` and ``default_retry_delay`` apply; stores
    ``RETRY``, calls ``on_retry``, sends ``task_retry``. False when out of
    retries or when the retry could not be published (the caller then fails
    or requeues it).
    """
    from ..exceptions import Retry

    task.push_request(request)
    try:
        try:
            reason = task.retry(exc=exc, throw=False, countdown=task.default_retry_delay)
        except Exception as error:  # out of retries (exc itself), or the publish failed (Reject)
            if error is not exc:
                logger.error("Failed to retry task %s[%s] after worker was lost: %r",
                             task.name, request.get("id"), error)
            return False
        context = task.request
        if store_errors:
            task.backend_for_results.mark_as_retry(context.id, exc, einfo.traceback, request=context)
        try:
            task.on_retry(exc, context.id, context.args, context.kwargs, einfo)
        except Exception:
            logger.exception("Task %s[%s] on_retry raised", task.name, context.id)
        signals.task_retry.send(sender=task, request=context, reason=reason, einfo=einfo)
    finally:
        task.pop_request()
    assert isinstance(reason, Retry)
    logger.info("Task %s[%s] retry: %s", task.name, request.get("id"), reason)
    return True


def _forget_dead_row(run: LostRun, using: str | None) -> None:
    from kombu_transport_django.models import Message

    Message.objects.using(using).filter(id=run.id, status=Message.Status.DEAD).delete()
