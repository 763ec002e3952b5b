"""Remote control: the worker's pidbox node and its command handlers.

The node consumes ``<hostname>.celery.pidbox``, bound to the
``celery.pidbox`` fanout exchange, on the consumer's connection: the same
mailbox as ``app.control`` (:mod:`celery_compat.control`) and as a real
Celery client, so ``app.control.inspect().ping()`` and ``revoke()`` from
either reach this worker. Replies have Celery's shapes.
"""

from __future__ import annotations

import logging
import os
import resource
import signal as _signal
import time
from typing import TYPE_CHECKING, Any, Callable

from .. import states
from ..revokes import persist_revokes
from .ratelimit import rate

if TYPE_CHECKING:
    from .consumer import Consumer

logger = logging.getLogger("celery.worker.control")

Handler = Callable[..., Any]
#: name → handler(state, **arguments), as kombu's pidbox Node dispatches them
HANDLERS: dict[str, Handler] = {}
DEFAULT_TASK_INFO_ITEMS = ("exchange", "routing_key", "rate_limit")


def handler(name: str | None = None) -> Callable[[Handler], Handler]:
    def register(fun: Handler) -> Handler:
        HANDLERS[name or fun.__name__] = fun
        return fun

    return register


def ok(value: Any) -> dict[str, Any]:
    return {"ok": value}


def nok(value: Any) -> dict[str, Any]:
    return {"error": value}


def signum(value: Any) -> int:
    """``'SIGTERM'``, ``'TERM'``, ``'kill'`` or ``15`` as a signal number."""
    if value is None:
        return int(_signal.SIGTERM)
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = f"SIG{name}"
    try:
        return int(getattr(_signal, name))
    except AttributeError:
        raise ValueError(f"Unknown signal name {value!r}") from None


class ControlNode:
    """The pidbox node of one worker; ``state`` for the handlers is the node itself."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.worker = consumer.worker
        self.app = consumer.app
        self.hostname = consumer.hostname
        self.node = self.app.control.mailbox.Node(self.hostname, state=self, handlers=HANDLERS)
        self._kombu_consumer: Any = None
        self._channel: Any = None

    def start(self, connection: Any) -> None:
        self._channel = connection.channel()
        self.node.channel = self._channel
        self._kombu_consumer = self.node.listen(channel=self._channel, callback=self.on_message)

    def stop(self) -> None:
        kombu_consumer, self._kombu_consumer = self._kombu_consumer, None
        channel, self._channel = self._channel, None
        for action in (getattr(kombu_consumer, "cancel", None), getattr(channel, "close", None)):
            if action is None:
                continue
            try:
                action()
            except Exception as exc:
                logger.debug("pidbox: error while stopping: %r", exc)

    def on_message(self, body: Any, message: Any) -> None:
        try:
            self.node.handle_message(body, message)
        except KeyError as exc:
            logger.error("No such control command: %s", exc)
        except Exception as exc:
            logger.error("Control command error: %r", exc, exc_info=True)


# -- control commands ----------------------------------------------------------


@handler()
def revoke(state: ControlNode, task_id: Any, terminate: bool = False, signal: Any = None, **kwargs: Any) -> Any:
    """Flag ids as revoked; with ``terminate``, kill the child running them."""
    task_ids = set(task_id if isinstance(task_id, (list, tuple, set)) else [task_id])
    worker_state = state.worker.state
    worker_state.revoked.update(task_ids)
    # Kept as rows also for revokes from clients that wrote none (real
    # Celery's), so workers started later skip the task as well.
    persist_revokes(task_ids, terminate=bool(terminate), signal=signal)
    running = {request.id for request in worker_state.find(task_ids) if worker_state.is_active(request)}
    # A prefork child may already hold one as its next job: it must not start it.
    state.consumer.pool.cancel(task_ids - running)
    backend = state.app.backend
    for one in task_ids - running:
        # Celery 5.6.2+: the worker stores REVOKED unless the task is done
        # or another worker already runs it.
        try:
            if backend.get_task_meta(one, cache=False).get("status") in (
                states.PENDING, states.RECEIVED, states.RETRY, states.REJECTED,
            ):
                backend.mark_as_revoked(one, "revoked")
        except NotImplementedError:
            break  # no result backend: nothing to store
        except Exception as exc:
            logger.warning("Failed to mark task %s as revoked in backend: %r", one, exc)
    if terminate:
        number = signum(signal)
        terminated = []
        for request in worker_state.find(task_ids):
            if not worker_state.is_active(request) or request.terminated_signum is not None:
                continue
            logger.info("Terminating %s (%s)", request.id, number)
            state.consumer.pool.terminate_job(request, number)
            state.consumer.announce_terminated(request, number)
            terminated.append(request.id)
        if not terminated:
            return ok("terminate: tasks unknown")
        return ok("terminate: {}".format(", ".join(terminated)))
    logger.info("Tasks flagged as revoked: %s", ", ".join(task_ids))
    return ok(f"tasks {task_ids} flagged as revoked")


@handler()
def terminate(state: ControlNode, signal: Any, task_id: Any, **kwargs: Any) -> Any:
    return revoke(state, task_id, terminate=True, signal=signal)


@handler()
def shutdown(state: ControlNode, msg: str = "Got shutdown from remote", **kwargs: Any) -> Any:
    logger.warning(msg)
    state.worker.request_stop(0)
    return ok("shutting down")


@handler()
def time_limit(state: ControlNode, task_name: str | None = None, hard: float | None = None,
               soft: float | None = None, **kwargs: Any) -> Any:
    try:
        task = state.app.tasks[task_name]
    except KeyError:
        logger.error("Change time limit attempt for unknown task %s", task_name)
        return nok("unknown task")
    task.soft_time_limit = soft
    task.time_limit = hard
    logger.info("New time limits for tasks of type %s: soft=%s hard=%s", task_name, soft, hard)
    return ok("time limits set successfully")


@handler()
def rate_limit(state: ControlNode, task_name: str, rate_limit: Any, **kwargs: Any) -> Any:
    """Set a task type's ``rate_limit`` in this worker (a false value removes it)."""
    try:
        rate(rate_limit)
    except ValueError as exc:
        return nok(f"Invalid rate limit string: {exc!r}")
    try:
        state.app.tasks[task_name].rate_limit = rate_limit
    except KeyError:
        logger.error("Rate limit attempt for unknown task %s", task_name)
        return nok("unknown task")
    state.consumer.reset_rate_limits()
    if not rate_limit:
        logger.info("Rate limits disabled for tasks of type %s", task_name)
        return ok("rate limit disabled successfully")
    logger.info("New rate limit for tasks of type %s: %s.", task_name, rate_limit)
    return ok("new rate limit set successfully")


# -- inspect commands -----------------------------------------------------------


@handler()
def ping(state: ControlNode, **kwargs: Any) -> Any:
    return ok("pong")


@handler()
def clock(state: ControlNode, **kwargs: Any) -> Any:
    return {"clock": state.node.mailbox.clock.value}


@handler(name="active")
def active(state: ControlNode, safe: bool = False, **kwargs: Any) -> Any:
    with state.worker.state.lock:
        requests = list(state.worker.state.active.values())
    return [request.info(safe=bool(safe)) for request in requests]


@handler()
def reserved(state: ControlNode, safe: bool = False, **kwargs: Any) -> Any:
    with state.worker.state.lock:
        requests = list(state.worker.state.reserved.values())
    return [request.info(safe=bool(safe)) for request in requests]


@handler()
def scheduled(state: ControlNode, **kwargs: Any) -> Any:
    # ETAs wait in the database (the transport withholds them until due);
    # only messages delivered early are held here.
    with state.worker.state.lock:
        requests = list(state.worker.state.scheduled.values())
    return [
        {"eta": request.eta.isoformat() if request.eta else None, "priority": 6, "request": request.info()}
        for request in requests
    ]


@handler()
def revoked(state: ControlNode, **kwargs: Any) -> Any:
    return list(state.worker.state.revoked)


@handler()
def registered(state: ControlNode, taskinfoitems: Any = None, builtins: bool = False, **kwargs: Any) -> Any:
    tasks = state.app.tasks
    items = [item for item in (taskinfoitems or DEFAULT_TASK_INFO_ITEMS)
             if isinstance(item, str) and not item.startswith("_")]
    names = sorted(name for name in tasks if builtins or not name.startswith("celery."))
    described = []
    for name in names:
        task = tasks[name]
        fields = {item: str(getattr(task, item)) for item in items if getattr(task, item, None) is not None}
        described.append(f"{name} [{' '.join('='.join(f) for f in fields.items())}]" if fields else name)
    return described


@handler()
def query_task(state: ControlNode, ids: Any = (), **kwargs: Any) -> Any:
    worker_state = state.worker.state
    found = {}
    for request in worker_state.find(ids if isinstance(ids, (list, tuple, set)) else [ids]):
        kind = "active" if worker_state.is_active(request) else "reserved"
        found[request.id] = (kind, request.info())
    return found


@handler()
def stats(state: ControlNode, **kwargs: Any) -> Any:
    worker = state.worker
    usage = resource.getrusage(resource.RUSAGE_SELF)
    broker = {}
    connection = state.consumer.connection
    if connection is not None:
        broker = {k: v for k, v in connection.info().items() if k != "password"}
    qos = state.consumer.qos
    return {
        "broker": broker,
        "clock": str(state.node.mailbox.clock.value),
        "pid": os.getpid(),
        "pool": worker.pool.info(),
        "prefetch_count": qos.value if qos is not None else worker.prefetch_count,
        "rusage": {
            "utime": usage.ru_utime, "stime": usage.ru_stime, "maxrss": usage.ru_maxrss,
            "minflt": usage.ru_minflt, "majflt": usage.ru_majflt, "nvcsw": usage.ru_nvcsw,
            "nivcsw": usage.ru_nivcsw,
        },
        "total": dict(worker.state.total),
        "uptime": int(time.monotonic() - worker.state.started_at),
    }


@handler()
def active_queues(state: ControlNode, **kwargs: Any) -> Any:
    task_consumer = state.consumer.task_consumer
    if task_consumer is None:
        return []
    return [dict(queue.as_dict(recurse=True)) for queue in task_consumer.queues]
