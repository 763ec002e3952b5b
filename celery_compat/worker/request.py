"""One received task message: its request dict, its acks, revoke and expiry.

A :class:`Request` lives from the moment the consumer decodes a message
until the message is acked or rejected. It is what ``task_received`` and
``task_revoked`` receivers get, and what ``inspect().active()`` describes.
The request *dict* it builds is what the task sees as ``self.request``
(Celery's worker passes the same keys to its tracer).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Mapping

from ..context import Context
from ..protocol import IncomingTask

if TYPE_CHECKING:
    from kombu.message import Message

    from ..app import Celery
    from ..task import Task

logger = logging.getLogger("celery.worker.request")

#: Header keys that are Celery's own, never "custom" headers: the Context's
#: attributes plus what only the wire carries (Celery's rule, 5.3+).
_CELERY_KEYS = frozenset(
    {name for name in vars(Context) if not name.startswith("__")}
    | {"lang", "task", "argsrepr", "kwargsrepr", "compression", "children"}
) - {"periodic_task_name"}  # beat's header: custom for Celery (request.periodic_task_name, request.headers)


def custom_headers(headers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``apply_async(headers=...)`` part of a message's headers, or None."""
    custom = {key: value for key, value in headers.items() if key not in _CELERY_KEYS}
    return custom or None


def parse_iso(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """An ``eta``/``expires`` header as an aware datetime (naive ⇒ ``tz``)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        parsed = dt.datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


class Request:
    """A task message received by this worker, until it is acked or rejected."""

    def __init__(
        self,
        app: Celery,
        message: Message,
        incoming: IncomingTask,
        task: Task | None,
        hostname: str,
    ) -> None:
        headers = incoming.headers
        self.app = app
        self.message = message
        self.task = task
        self.hostname = hostname
        self.id: str = headers["id"]
        #: the registered name; ``name`` is the display name (``shadow`` wins)
        self.type: str = headers["task"]
        self.name: str = headers.get("shadow") or self.type
        self.args = incoming.args
        self.kwargs = incoming.kwargs
        self.embed = incoming.embed
        self.headers = headers
        self.argsrepr: str = headers.get("argsrepr") or repr(tuple(self.args))
        self.kwargsrepr: str = headers.get("kwargsrepr") or repr(self.kwargs)
        #: raises ValueError on a malformed header: the message is invalid
        eta, expires = headers.get("eta"), headers.get("expires")
        # app.timezone only when needed: it was 8% of the consumer thread's CPU.
        tz = app.timezone if eta or expires else dt.timezone.utc
        self.eta = parse_iso(eta, tz)
        self.expires = parse_iso(expires, tz)
        timelimit = headers.get("timelimit") or (None, None)
        self.time_limits: tuple[float | None, float | None] = (
            timelimit[0] if len(timelimit) > 0 else None,
            timelimit[1] if len(timelimit) > 1 else None,
        )
        self.time_start: float | None = None
        self.worker_pid: int | None = None
        self.acknowledged = False
        self.received_at = time.monotonic()
        #: set by ``revoke(terminate=True)`` once announced, so the pool's
        #: report of the killed child is not taken for a lost worker
        self.terminated_signum: int | None = None
        #: the consumer's connection generation it arrived on
        self.generation = 0
        self._ack_lock = threading.Lock()
        #: acked at start and its row kept as running (``django://``)
        self._running = False
        #: acked the plain way
        self._plain_acked = False
        #: the transport's start ticket when the run's process starts it (:meth:`prepare_start`)
        self.start_ticket: Any = None
        self.request_dict = self._build_request_dict()

    # -- the task's view ---------------------------------------------------

    def _build_request_dict(self) -> dict[str, Any]:
        headers = self.headers
        message = self.message
        properties = dict(message.properties or {})
        delivery_info = message.delivery_info or {}
        ignore_result = headers.get("ignore_result")
        if ignore_result is None and self.task is not None:
            ignore_result = self.task.ignore_result
        embed = self.embed
        request: dict[str, Any] = {}
        # Custom headers first, so a custom key can never shadow a real field.
        request.update(custom_headers(headers) or {})
        request.update(
            id=self.id,
            task=self.type,
            args=self.args,
            kwargs=self.kwargs,
            retries=headers.get("retries") or 0,
            eta=headers.get("eta"),
            expires=headers.get("expires"),
            group=headers.get("group"),
            group_index=headers.get("group_index"),
            root_id=headers.get("root_id"),
            parent_id=headers.get("parent_id"),
            callbacks=embed.get("callbacks"),
            errbacks=embed.get("errbacks"),
            chain=embed.get("chain"),
            chord=embed.get("chord"),
            delivery_info={
                "exchange": delivery_info.get("exchange"),
                "routing_key": delivery_info.get("routing_key"),
                "priority": properties.get("priority"),
                "redelivered": bool(delivery_info.get("redelivered", False)),
            },
            reply_to=properties.get("reply_to"),
            correlation_id=properties.get("correlation_id"),
            hostname=self.hostname,
            origin=headers.get("origin"),
            ignore_result=bool(ignore_result),
            shadow=headers.get("shadow"),
            timelimit=list(self.time_limits),
            headers=custom_headers(headers),
            argsrepr=self.argsrepr,
            kwargsrepr=self.kwargsrepr,
            stamped_headers=headers.get("stamped_headers"),
            stamps=headers.get("stamps"),
            replaced_task_nesting=headers.get("replaced_task_nesting") or 0,
            is_eager=False,
            called_directly=False,
            properties=properties,
        )
        return request

    def context(self) -> Context:
        """The request as a ``Context``: what backends and receivers read."""
        return Context(self.request_dict)

    @property
    def ignore_result(self) -> bool:
        return bool(self.request_dict.get("ignore_result"))

    @property
    def store_errors(self) -> bool:
        """Whether errors (REVOKED, FAILURE) of this request are stored."""
        if not self.ignore_result:
            return True
        return bool(self.task is not None and self.task.store_errors_even_if_ignored)

    @property
    def acks_late(self) -> bool:
        return bool(self.task is not None and self.task.acks_late)

    # -- the message -------------------------------------------------------

    def acknowledge_started(self) -> bool:
        """Early ack (``acks_late=False``) of a request about to run; False: do not run it.

        With the ``django://`` transport the message row is kept as running
        until the run ends (:meth:`acknowledge` then deletes it), so a worker
        dying in between leaves a visible ``WorkerLostError`` instead of
        nothing; and a message whose lease this consumer no longer holds
        (lapsed, or given back at a reconnect) is refused: another worker
        has it. Other transports: a plain ack. Idempotent: a request handed
        to a second child after the first died is already started.
        """
        with self._ack_lock:
            if self.acknowledged:
                return self._running or self._plain_acked
            self.acknowledged = True
        ack_started = getattr(getattr(self.message.channel, "qos", None), "ack_started", None)
        try:
            if ack_started is None:
                self.message.ack()
                self._plain_acked = True
                return True
            started = bool(ack_started(self.message.delivery_tag))
        except BaseException:
            self.acknowledged = False  # not settled: the caller gives it back
            raise
        self.message._state = "ACK"
        self._running = started
        return started

    def prepare_start(self) -> Any:
        """:meth:`acknowledge_started`, its database write left to the process that runs the task.

        Returns the transport's start ticket (picklable; its ``start()``
        returns what :meth:`acknowledge_started` would), also kept as
        :attr:`start_ticket`; the runner reports back with
        :meth:`start_refused` or :meth:`start_failed` when the ticket did not
        start it. None where the transport has no tickets (the caller then
        uses :meth:`acknowledge_started`).
        """
        prepare = getattr(getattr(self.message.channel, "qos", None), "prepare_start", None)
        if prepare is None:
            return None
        with self._ack_lock:
            if self.acknowledged:
                return self.start_ticket
            self.acknowledged = True
        try:
            ticket = prepare(self.message.delivery_tag)
        except BaseException:
            self.acknowledged = False
            raise
        self.message._state = "ACK"
        self._running = True  # as far as this process knows: the runner says otherwise
        self.start_ticket = ticket
        return ticket

    @property
    def starts_by_ticket(self) -> bool:
        """Whether :meth:`prepare_start` makes its early ack (the transport has start tickets, not ``acks_late``)."""
        return not self.acks_late and callable(
            getattr(getattr(self.message.channel, "qos", None), "prepare_start", None)
        )

    def withdraw_start(self, requeue: bool) -> bool:
        """Undo :meth:`prepare_start` for a request its runner never started.

        Its message goes back to the queue (``requeue``) or is deleted (an
        ack, for a revoke); False if the ticket had been started after all,
        or its lease was gone.
        """
        with self._ack_lock:
            self._running = False
        return bool(self.message.channel.qos.withdraw_start(self.start_ticket, requeue))

    def start_refused(self) -> None:
        """The ticket found the lease gone: the message is another consumer's, and was not run here."""
        with self._ack_lock:
            self._running = False
        self.message.channel.qos.start_refused(self.message.delivery_tag)

    def start_failed(self) -> None:
        """The ticket's start raised (a database error): the message is given back."""
        with self._ack_lock:
            self._running = False
        self.message.channel.qos.start_failed(self.message.delivery_tag)

    def _finish_running(self) -> bool:
        """If started with :meth:`acknowledge_started`: end the run's row (once); True if it was."""
        with self._ack_lock:
            if not self._running:
                return False
            self._running = False
        try:
            self.message.channel.qos.ack_finished(self.message.delivery_tag)
        except BaseException:
            self._running = True
            raise
        return True

    def acknowledge(self) -> None:
        """Ack the message once; later calls (and rejects) do nothing."""
        if self._finish_running():
            return
        # Pool threads and the consumer may race to settle the same message.
        with self._ack_lock:
            if self.acknowledged:
                return
            self.acknowledged = True
        try:
            self.message.ack()
        except BaseException:
            self.acknowledged = False  # not settled: a retry may ack it
            raise
        self._plain_acked = True

    def reject(self, requeue: bool = False) -> None:
        """Reject the message once (requeue: give the row back to its queue).

        A request already acked at start is only finished (as Celery: the
        reject of an acked message does nothing).
        """
        if self._finish_running():
            return
        with self._ack_lock:
            if self.acknowledged:
                return
            self.acknowledged = True
        try:
            self.message.reject(requeue=requeue)
        except BaseException:
            self.acknowledged = False
            raise

    # -- expiry ------------------------------------------------------------

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        if self.expires is None:
            return False
        return (now or dt.datetime.now(dt.timezone.utc)) > self.expires

    def eta_delay(self) -> float:
        """Seconds until the ETA (0 when due or absent)."""
        if self.eta is None:
            return 0.0
        return max(0.0, (self.eta - dt.datetime.now(dt.timezone.utc)).total_seconds())

    # -- introspection -----------------------------------------------------

    def info(self, safe: bool = False) -> dict[str, Any]:
        """What ``inspect().active()``/``reserved()`` report, as Celery does."""
        return {
            "id": self.id,
            "name": self.name,
            "args": self.argsrepr if safe else self.args,
            "kwargs": self.kwargsrepr if safe else self.kwargs,
            "type": self.type,
            "hostname": self.hostname,
            "time_start": self.time_start,
            "acknowledged": self.acknowledged,
            "delivery_info": self.request_dict["delivery_info"],
            "worker_pid": self.worker_pid,
        }

    def humaninfo(self) -> str:
        return f"{self.name}[{self.id}]"

    def __repr__(self) -> str:
        return f"<Request: {self.humaninfo()} {self.argsrepr} {self.kwargsrepr}>"
