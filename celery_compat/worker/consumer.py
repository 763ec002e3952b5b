"""The consumer: task messages in, requests to the pool, acks and rejects out.

One kombu connection (``app.connection_for_read()``) carries the task
consumer and the pidbox (remote control) consumer; the loop drains it with
a timeout so stop requests and held ETAs are noticed, and reconnects with
backoff when the database goes away (``connection.connection_errors``).
Messages that cannot run are never silently dropped: invalid ones and
unregistered tasks are rejected without requeue, which the ``django://``
transport keeps as dead rows.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Any

from kombu import Consumer as KombuConsumer
from kombu.common import QoS

from .. import signals, states
from ..context import Context
from ..exceptions import ImproperlyConfigured, NotRegistered
from ..protocol import InvalidMessage, parse
from . import lost
from .control import ControlNode
from .execution import Outcome, close_old_connections
from .ratelimit import RateLimiter
from .request import Request, custom_headers
from .revoked import RevokedMirror

if TYPE_CHECKING:
    from kombu.message import Message

    from .worker import WorkController

logger = logging.getLogger("celery.worker.consumer")
strategy_logger = logging.getLogger("celery.worker.strategy")

#: seconds between two drains when nothing arrives: how soon a stop request
#: or a held ETA is noticed
DRAIN_TIMEOUT = 1.0
#: same, with ``--until-empty``: how soon an empty queue ends the run
DRAIN_TIMEOUT_UNTIL_EMPTY = 0.1
RECONNECT_BACKOFF = (0.5, 10.0)


class Consumer:
    """Receives task messages and remote control commands for one worker."""

    def __init__(self, worker: WorkController) -> None:
        self.worker = worker
        self.app = worker.app
        self.hostname = worker.hostname
        self.state = worker.state
        self.pool = worker.pool
        self.connection: Any = None
        self.task_consumer: KombuConsumer | None = None
        self.qos: QoS | None = None
        self.control = ControlNode(self) if worker.enable_remote_control else None
        #: rate limits (``Task.rate_limit``): requests waiting for a token
        self.limiter = RateLimiter(not worker.disable_rate_limits, max_extra=worker.prefetch_count)
        try:
            self.reset_rate_limits()
        except ValueError as exc:
            # A configuration error, reported before the worker starts (Celery's
            # consumer dies on it with a bare float() traceback).
            raise ImproperlyConfigured(str(exc)) from None
        #: the Revoke table, mirrored: no query per task start
        self.revokes = RevokedMirror()
        self._ready_sent = False
        #: bumped at each (re)connection: a request of an older one cannot be acked
        self.generation = 0
        # Runs of dead workers that this process's lease reaper finds are
        # stored as FAILURE/WorkerLostError (docs/worker.md, "Delivery").
        lost.connect(self.app)

    # -- connection --------------------------------------------------------

    def run(self) -> None:
        """Consume until the worker stops; reconnect when the database drops."""
        delay = RECONNECT_BACKOFF[0]
        while not self.worker.stopping:
            connection_errors: tuple[type[BaseException], ...] = ()
            try:
                self.connection = self.app.connection_for_read()
                connection_errors = tuple(self.connection.connection_errors)
                self._connect()
                delay = RECONNECT_BACKOFF[0]
                self._loop()
                return
            except connection_errors as exc:
                if self.worker.stopping:
                    return
                logger.error(
                    "consumer: Connection to broker lost: %r. Trying to re-establish the "
                    "connection in %.2f seconds...", exc, delay,
                )
                # Requests of the lost connection must not start from now on
                # (on_start checks the generation): close() below gives
                # their messages back, to be delivered again.
                self.generation += 1
                self.close(release=False)
                # Unacked messages of the lost connection come back when their
                # leases lapse; whatever of them waits here must not run.
                self.state.forget_waiting()
                self.limiter.forget()
                close_old_connections()
                self.worker.sleep(delay)
                delay = min(delay * 2, RECONNECT_BACKOFF[1])

    def _connect(self) -> None:
        self.generation += 1
        conn = self.connection
        conn.connect()
        channel = conn.default_channel
        self.task_consumer = KombuConsumer(
            channel, queues=list(self.worker.queues), on_message=self.on_task_message,
            accept=self.app.conf.accept_content, no_ack=False,
        )
        self.qos = QoS(self.task_consumer.qos, self.worker.prefetch_count)
        self.qos.update()
        self.task_consumer.consume()
        if self.control is not None:
            self.control.start(conn)
        if not self._ready_sent:
            self._ready_sent = True
            logger.info("%s ready.", self.hostname)
            signals.worker_ready.send(sender=self)
            self.worker.ready.set()

    def close(self, release: bool = True) -> None:
        """Close the connection: the transport gives unacked messages back."""
        if self.control is not None:
            self.control.stop()
        conn, self.connection = self.connection, None
        self.task_consumer = None
        if conn is None:
            return
        try:
            if release:
                conn.release()
            else:
                conn.collect()
        except Exception as exc:
            logger.warning("consumer: error closing the broker connection: %r", exc)

    def cancel_task_consumer(self) -> None:
        """Stop receiving tasks (remote control keeps working)."""
        if self.task_consumer is not None:
            try:
                self.task_consumer.cancel()
            except Exception as exc:
                logger.warning("consumer: could not cancel the task consumer: %r", exc)

    # -- the loop --------------------------------------------------------------

    def _loop(self) -> None:
        worker = self.worker
        base = DRAIN_TIMEOUT_UNTIL_EMPTY if worker.until_empty else DRAIN_TIMEOUT
        while not worker.stopping:
            for request in self.state.pop_due():
                if self.qos is not None:
                    self.qos.decrement_eventually()
                self._to_pool(request)
            for request, raised in self.limiter.due():
                if raised and self.qos is not None:
                    self.qos.decrement_eventually()
                self.pool.apply_async(request)
            qos = self.qos
            if qos is not None and qos.prev != qos.value:
                qos.update()
            timeout = min(base, self.state.next_due_in(), self.limiter.next_in())
            self.revokes.refresh(max_age=0.9)  # off the task path while idle
            try:
                self.connection.drain_events(timeout=timeout)
            except socket.timeout:
                if worker.until_empty and self._drained():
                    return
            worker.check_deadline()

    def _drained(self) -> bool:
        """No task held or running here, and nothing waiting in our queues."""
        if self.state.busy:
            return False
        channel = self.connection.default_channel
        for queue in self.worker.queues:
            if channel.queue_declare(queue=queue.name, passive=True).message_count:
                return False
        return not self.state.busy

    # -- receiving ---------------------------------------------------------------

    def on_task_message(self, message: Message) -> None:
        """kombu callback for every task message delivered to this worker."""
        if self.worker.stopping:
            return  # left unacked: the transport gives it back at close
        try:
            incoming = parse(message.headers, message.decode())
            if not incoming.headers.get("id"):
                raise InvalidMessage("task message has no 'id' header")
            _refuse_nul(incoming.headers)
        except Exception as exc:
            self.on_invalid_message(message, exc)
            return
        name = incoming.headers["task"]
        try:
            task = self.app.tasks[name]
        except KeyError as exc:
            self.on_unknown_task(message, incoming.headers, exc)
            return
        try:
            request = Request(self.app, message, incoming, task, self.hostname)
        except (ValueError, TypeError) as exc:
            self.on_invalid_message(message, exc)
            return
        request.generation = self.generation
        strategy_logger.info("Task %s[%s] received", request.name, request.id)
        if request.is_expired() or request.id in self.state.revoked:
            self.discard(request, expired=request.is_expired())
            return
        signals.task_received.send(sender=self, request=request)
        delay = request.eta_delay()
        if delay > 0:
            # The django:// transport withholds messages until their ETA, so
            # this only happens with honor_eta=False or a clock ahead of ours.
            # Like Celery: keep it unacked, let one more message be prefetched.
            self.state.schedule(request, delay)
            if self.qos is not None:
                self.qos.increment_eventually()
            return
        self.state.task_reserved(request)
        self._to_pool(request)

    def _to_pool(self, request: Request) -> None:
        """Run a reserved request now, or hold it until its rate limit gives a token."""
        if not self.limiter.hold(request):
            self.pool.apply_async(request)
        elif self.qos is not None and self.limiter.raise_prefetch(request):
            # Held unacked: let one more message in, so other tasks keep flowing.
            self.qos.increment_eventually()

    def reset_rate_limits(self) -> None:
        """(Re)build the buckets from the tasks' ``rate_limit`` (remote control, start)."""
        self.limiter.reset(self.app.tasks)
    def on_invalid_message(self, message: Message, exc: BaseException) -> None:
        logger.error(
            "Received invalid task message: %s. The message has been rejected (kept as dead by "
            "the transport). headers=%r content_type=%r",
            exc, message.headers, message.content_type,
        )
        _reject_with_reason(message, f"invalid task message: {exc}")
        signals.task_rejected.send(sender=self, message=message, exc=exc)

    def on_unknown_task(self, message: Message, headers: dict[str, Any], exc: BaseException) -> None:
        task_id, name = headers["id"], headers["task"]
        logger.error(
            "Received unregistered task of type %r.\nThe message has been rejected and kept as "
            "dead.\nDid you remember to import the module containing this task?\nOr maybe "
            "you're using relative imports?\nThe full contents of the message headers:\n%r",
            name, headers,
        )
        _reject_with_reason(message, f"unregistered task {name!r}: NotRegistered (import its module in the worker)")
        properties = message.properties or {}
        request = Context(
            {key: headers.get(key) for key in ("id", "task", "root_id", "parent_id", "group", "group_index")},
            name=name, chord=None, errbacks=None, headers=custom_headers(headers), ignore_result=False,
            correlation_id=properties.get("correlation_id"), reply_to=properties.get("reply_to"),
        )
        self.app.backend.mark_as_failure(task_id, NotRegistered(name), request=request)
        signals.task_unknown.send(sender=self, message=message, exc=exc, name=name, id=task_id)

    def discard(self, request: Request, expired: bool, acknowledge: bool = True) -> None:
        """A revoked or expired request: REVOKED, acked (unless the caller did), never run."""
        reason = "expired" if expired else "revoked"
        strategy_logger.info("Discarding revoked task: %s[%s]", request.name, request.id)
        self.state.revoked.add(request.id)
        if request.store_errors:
            request.task.backend_for_results.mark_as_revoked(request.id, reason, request=request.context())
        if acknowledge:
            request.acknowledge()
        self.state.task_ready(request)
        signals.task_revoked.send(
            sender=request.task, request=request, terminated=False, signum=None, expired=expired,
        )

    def announce_terminated(self, request: Request, signum: int) -> None:
        """``revoke(terminate=True)`` reached a running task: REVOKED ``terminated``."""
        request.terminated_signum = signum
        if request.store_errors:
            request.task.backend_for_results.mark_as_revoked(request.id, "terminated", request=request.context())
        request.acknowledge()
        self.state.task_ready(request)
        signals.task_revoked.send(
            sender=request.task, request=request, terminated=True, signum=signum, expired=False,
        )

    # -- pool callbacks (PoolHandler) --------------------------------------------

    def on_start(self, request: Request, pid: int, runner_starts: bool = False, queued: bool = False) -> bool:
        """Just before ``request`` runs: veto it if revoked or expired; ack early.

        ``runner_starts``: the process that runs the task makes the early
        ack's database write itself, with the request's ``start_ticket``
        (prefork children: the pool's thread then does no write per task),
        and reports a refusal with :meth:`on_not_started`.

        ``queued``: it is handed to its runner now but may start later (a
        prefork child's next job); it stays reserved until :meth:`on_begin`.
        """
        if self.worker.stopping or request.generation != self.generation:
            with self.state.lock:
                self.state.reserved.pop(id(request), None)
            return False  # stays unacked: given back when the connection closes
        if request.is_expired():
            self.discard(request, expired=True)
            return False
        if request.id in self.state.revoked or self._revoked_in_backend(request):
            self.discard(request, expired=False)
            return False
        if not request.acks_late and not (
            (runner_starts and request.prepare_start() is not None) or request.acknowledge_started()
        ):
            # Its lease lapsed or was given back (a reconnect): the message is
            # another consumer's now, and running it here would run it twice.
            logger.warning("Task %s[%s] not started here: its message is no longer leased to this "
                           "worker (it is delivered again)", request.name, request.id)
            with self.state.lock:
                self.state.reserved.pop(id(request), None)
            return False
        if not queued:
            self.on_begin(request, pid)
        return True

    def on_begin(self, request: Request, pid: int) -> None:
        """``request``, handed over with ``on_start(queued=True)``, starts now in ``pid``."""
        request.time_start = time.time()
        request.worker_pid = pid
        self.state.task_accepted(request)

    def on_returned(self, request: Request) -> None:
        """A request handed over with ``on_start(queued=True)`` was not started: its message goes back."""
        with self.state.lock:
            self.state.reserved.pop(id(request), None)
            self.state.active.pop(id(request), None)
        try:
            request.withdraw_start(requeue=True)
        except Exception as exc:
            logger.warning("Could not give back %r (its lease will lapse): %r", request, exc)

    def on_cancelled(self, request: Request) -> None:
        """A request handed over with ``on_start(queued=True)`` was revoked before it started."""
        with self.state.lock:
            self.state.active.pop(id(request), None)
        request.withdraw_start(requeue=False)  # the ack: its message is deleted
        self.discard(request, expired=False, acknowledge=False)

    def on_not_started(self, request: Request, error: str | None) -> None:
        """The runner did not start ``request`` with its ticket: the lease was gone, or ``error``."""
        with self.state.lock:
            self.state.active.pop(id(request), None)
        if error is None:
            request.start_refused()
            logger.warning("Task %s[%s] not started here: its message is no longer leased to this "
                           "worker (it is delivered again)", request.name, request.id)
            return
        logger.warning("Task %s[%s] not started: the early ack failed (%s); its message is given back",
                       request.name, request.id, error)
        request.start_failed()

    def _revoked_in_backend(self, request: Request) -> bool:
        # revoke() persists a Revoke row (celery_compat.revokes), so a worker
        # that missed the broadcast, or started after it, still knows; read
        # from an in-memory copy, not one query per task (.revoked).
        return self.revokes.contains(request.id)

    def abandon(self, request: Request) -> None:
        """A pool could not start or settle ``request``: give its message back."""
        self.state.task_ready(request)
        try:
            request.reject(requeue=True)
        except Exception as exc:
            logger.warning("Could not give back %r (its lease will lapse): %r", request, exc)

    def on_done(self, request: Request, outcome: Outcome) -> None:
        """After ``request`` ran: settle its message as Celery does."""
        task = request.task
        if outcome.state == states.REJECTED:
            request.reject(requeue=outcome.requeue)
        elif (outcome.state == states.FAILURE and request.acks_late
              and not task.acks_on_failure):
            request.reject(requeue=False)
        else:
            request.acknowledge()
        self.state.task_ready(request)

    def on_lost(self, request: Request, exc: BaseException, timed_out: bool) -> None:
        """The child running ``request`` died: killed, or past its hard time limit.

        As Celery 5.7's worker: a run that stored its success before dying
        keeps it; ``retry_on_worker_lost`` sends it again as ``retry()``
        would; otherwise, unless its message is requeued (``acks_late`` with
        ``reject_on_worker_lost``, or a timeout without ``acks_on_timeout``),
        it fails like a raised exception: ``FAILURE``, the chain's later
        steps failed, errbacks called, ``task_failure`` sent (the task's own
        ``on_failure`` ran in the dead child, so it is not called).
        """
        from ..trace import ExceptionInfo, fail_workflow

        if request.terminated_signum is not None:
            self.state.task_ready(request)  # revoke(terminate=True): already announced
            return
        task = request.task
        try:
            raise exc
        except BaseException as raised:
            einfo = ExceptionInfo.capture(raised)
        if timed_out:
            logger.error("Hard time limit (%ss) exceeded for %s[%s]", exc.args[0], request.name, request.id)
        elif self._success_was_stored(request):
            logger.warning("Task %s[%s] succeeded before the worker was lost: %r", request.name, request.id, exc)
            request.acknowledge()
            self.state.task_ready(request)
            return
        elif task.retry_on_worker_lost and lost.retry_lost_run(task, request.request_dict, exc, einfo,
                                                               request.store_errors):
            request.acknowledge()
            self.state.task_ready(request)
            return
        retries_left = task.max_retries is None or request.context().retries < task.max_retries
        requeue = request.acks_late and (
            (not timed_out and bool(task.reject_on_worker_lost)
             and (retries_left or not task.retry_on_worker_lost))
            or (timed_out and not task.acks_on_timeout)
        )
        if not requeue or timed_out:
            context = request.context()
            fail_workflow(task, context, exc, einfo, request.store_errors)
            task.push_request(request.request_dict)
            try:
                signals.task_failure.send(
                    sender=task, task_id=request.id, exception=exc, args=request.args,
                    kwargs=request.kwargs, traceback=einfo.tb, einfo=einfo,
                )
            finally:
                task.pop_request()
        if requeue:
            request.reject(requeue=True)
        elif request.acks_late and not timed_out and not task.acks_on_failure:
            request.reject(requeue=False)
        else:
            request.acknowledge()
        self.state.task_ready(request)

    def _success_was_stored(self, request: Request) -> bool:
        """Whether the dead child had stored the run's success (its result is then kept)."""
        if request.ignore_result:
            return False
        try:
            meta = request.task.backend_for_results.get_task_meta(request.id, cache=False)
        except Exception as error:  # the backend is down: the run is treated as lost
            logger.warning("Could not read the result of %s[%s]: %r", request.name, request.id, error)
            return False
        return meta.get("status") == states.SUCCESS


def _refuse_nul(headers: dict[str, Any]) -> None:
    """A NUL byte in an id or name cannot be stored by PostgreSQL (results, revokes): refuse the message.

    On Redis Celery would run it; here its result could not be stored and
    storing it crashed the worker, so it is kept as dead with this reason.
    """
    for key in ("id", "task", "root_id", "parent_id", "group"):
        value = headers.get(key)
        if isinstance(value, str) and "\x00" in value:
            raise InvalidMessage(
                f"the {key!r} header {value!r} contains a NUL byte, which the database cannot store: "
                f"publish it without the NUL"
            )


def _reject_with_reason(message: Any, reason: str) -> None:
    """Reject without requeue; with the django:// transport the dead row keeps ``reason``."""
    reject_as_dead = getattr(getattr(message.channel, "qos", None), "reject_as_dead", None)
    if reject_as_dead is None or message.acknowledged:
        message.reject(requeue=False)
        return
    reject_as_dead(message.delivery_tag, reason)
    message._state = "REJECTED"
