"""The kombu transport: channels and QoS over the tables in :mod:`.models`.

kombu's virtual base keeps unacked messages in process memory and restores
them by re-publishing copies; a database can do better. Here a delivered
message stays a row leased to its consumer: ack deletes the row, reject with
requeue releases the lease on the same row, and a consumer that dies simply
stops renewing its leases (see :mod:`.leases`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
from contextlib import contextmanager, nullcontext
from time import monotonic
from typing import Any, Iterator
from uuid import uuid4

import django
from django.apps import apps
from django.core.exceptions import (
    ImproperlyConfigured,
    MultipleObjectsReturned,
    ObjectDoesNotExist,
)
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.utils import timezone
from kombu.exceptions import ConnectionError as KombuConnectionError
from kombu.transport import virtual
from kombu.transport.base import to_rabbitmq_queue_arguments
from kombu.utils.json import dumps as kombu_dumps

from . import claim as claims
from . import deferred, leases, publish, signing
from .notify import PgListener, Poller
from .options import TransportOptions
from .storable import refuse_nul

logger = logging.getLogger(__name__)

#: errors that mean "the database went away": kombu's and Celery's reconnect
#: loops retry these. DatabaseError as a whole is deliberately not listed,
#: or an IntegrityError would be retried as if the connection had dropped.
DB_CONNECTION_ERRORS = (OperationalError, InterfaceError)

#: longest sleep between two empty polls without LISTEN/NOTIFY: an idle
#: consumer answers in half of it on average (median latency under 50 ms,
#: see docs/benchmarks.md) for about 20 small reads a second
DEFAULT_POLLING_INTERVAL = 0.05

#: a channel holds back its claim while fewer than half its prefetch window,
#: and fewer than this many slots, are free (see Channel.held_back)
HOLD_BACK_MAX = 8
#: seconds during which a channel whose claim found nothing is not claimed
#: again, unless a wait for new messages ended (so, under a backlog on another
#: channel: a worker's broadcast queue answers within this)
RECLAIM_EMPTY_AFTER = 0.05


class PayloadTooLarge(ValueError):
    """A message is larger than the transport's ``max_payload_bytes``."""


def _column_text(value: Any) -> str:
    """A header for the ``task_id``/``task_name`` columns, which the admin and the filters read.

    The payload keeps the real value (JSON escapes NUL); the columns hold a
    copy that every database can store: PostgreSQL text refuses NUL, which
    made publishing such a message fail with a bare ``DataError``.
    """
    return str(value or "").replace("\x00", "\ufffd")[:255]


def _parse_eta(value: Any) -> dt.datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        eta = dt.datetime.fromisoformat(value)
    except ValueError:
        logger.warning("unparseable eta header=%r; delivering without delay", value)
        return None
    if timezone.is_naive(eta):
        # Celery 5 always sends an offset; a naive eta is taken as local time.
        eta = timezone.make_aware(eta, timezone.get_default_timezone())
    if not django.conf.settings.USE_TZ:
        eta = timezone.make_naive(eta, timezone.get_default_timezone())
    return eta


class QoS(virtual.QoS):
    """Acks and rejects act on the message row, from whichever thread calls.

    kombu calls ``ack``/``reject`` from pool threads (prefork result handler,
    thread pool workers); each thread uses its own Django connection, and the
    base class's ``_dirty`` set already makes the bookkeeping thread-safe.
    """

    channel: Channel

    def ack(self, delivery_tag: str) -> None:
        channel = self.channel
        if not leases.ack(channel.options.database, _row_id(delivery_tag), channel.token):
            logger.warning("ack of tag=%s found no lease: it lapsed and was redelivered", delivery_tag)
        super().ack(delivery_tag)
        self.channel.capacity_freed.set()

    def ack_started(self, delivery_tag: str) -> bool:
        """Early ack of a message about to run; False if it is no longer ours to run.

        The row is kept, started (see :func:`.leases.start`), until
        :meth:`ack_finished`; the prefetch slot is freed now, as by an ack.
        """
        channel = self.channel
        try:
            started = leases.start(channel.options, _row_id(delivery_tag), channel.token)
        except DB_CONNECTION_ERRORS:
            channel._drop_broken_connection()
            raise
        if not started:
            logger.warning("start of tag=%s found no lease: it lapsed or was given back; not run here",
                           delivery_tag)
        super().ack(delivery_tag)
        channel.capacity_freed.set()
        return started

    def prepare_start(self, delivery_tag: str) -> leases.StartTicket:
        """:meth:`ack_started`, its UPDATE left to another process: the ticket's ``start()``.

        The prefetch slot is freed now. The caller runs ``ticket.start()``
        where the task will run (a prefork child), and runs the task only if
        it returned True; otherwise it calls :meth:`start_refused` (False)
        or :meth:`start_failed` (an error).
        """
        ticket = leases.prepare_start(self.channel.options, _row_id(delivery_tag), self.channel.token)
        super().ack(delivery_tag)
        self.channel.capacity_freed.set()
        return ticket

    def withdraw_start(self, ticket: leases.StartTicket, requeue: bool) -> bool:
        """A ticket from :meth:`prepare_start` that nobody started: its message back in the queue (``requeue``) or deleted.

        False if the ticket had been started, or its lease was gone.
        """
        try:
            return ticket.withdraw(requeue)
        except DB_CONNECTION_ERRORS:
            self.channel._drop_broken_connection()
            raise

    def start_refused(self, delivery_tag: str) -> None:
        """The ticket's start found the lease gone: the message is another consumer's; not run here."""
        logger.warning("start of tag=%s found no lease: it lapsed or was given back; not run here", delivery_tag)
        leases.RunningKeeper.forget(_row_id(delivery_tag))

    def start_failed(self, delivery_tag: str) -> None:
        """The ticket's start raised: give the message back (its UPDATE may have committed)."""
        leases.release(self.channel.options.database, _row_id(delivery_tag), self.channel.token)

    def ack_finished(self, delivery_tag: str) -> None:
        """The run of a message acked with :meth:`ack_started` ended: its row is deleted (soon: :func:`.leases.finish`)."""
        leases.finish(self.channel.options.database, _row_id(delivery_tag))

    def reject_as_dead(self, delivery_tag: str, reason: str) -> None:
        """``reject(requeue=False)`` that keeps the consumer's ``reason`` on the dead row."""
        self.reject(delivery_tag, requeue=False, reason=reason)

    def reject(self, delivery_tag: str, requeue: bool = False, reason: str | None = None) -> None:
        """Give the message back (``requeue``) or keep it as dead (with ``reason``, if given)."""
        channel = self.channel
        row_id = _row_id(delivery_tag)
        if requeue:
            leases.release(channel.options.database, row_id, channel.token)
        else:
            leases.bury(
                channel.options.database,
                row_id,
                reason or "rejected by the consumer without requeue (basic_reject requeue=False)",
                token=channel.token,
            )
        self._quick_ack(delivery_tag)
        channel.capacity_freed.set()

    def restore_unacked(self) -> list[Any]:
        # Release our leases in place instead of re-publishing copies.
        self._flush()
        self._delivered.clear()
        self.channel.release_leases()
        return []

    def restore_unacked_once(self, stderr: Any = None) -> None:
        self._on_collect.cancel()
        self._flush()
        if not self.restore_at_shutdown or not self.channel.do_restore:
            return
        if getattr(self._delivered, "restored", False):
            return
        try:
            self.restore_unacked()
        finally:
            self._delivered.restored = True


def _row_id(delivery_tag: str) -> int:
    return int(str(delivery_tag).split(".", 1)[0])


class Channel(virtual.Channel):
    QoS = QoS
    supports_fanout = True
    do_restore = True

    connection: Transport

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.options: TransportOptions = connection.options
        #: this channel's lease owner id; a new one per channel
        self.token = uuid4().hex
        self._noack_queues: set[str] = set()
        self._accept: dict[str, set[str] | None] = {}
        #: rows collected by buffered_publish(), None outside it
        self._buffer: list[publish.NewMessage] | None = None
        #: inside buffered_publish(): full batches are sent as they fill
        self._streaming = False
        #: the transport's event, kept here: acks come from pool threads, also
        #: after a reconnect closed this channel (kombu then sets its
        #: ``connection`` to None)
        self.capacity_freed: threading.Event = connection.capacity_freed
        #: when this channel's last claim found nothing (monotonic), else None
        self.found_nothing_at: float | None = None
        #: plain claims, or per priority while many messages wait scheduled ahead
        self._claimer = claims.Claimer()

    @property
    def db(self) -> Any:
        return connections[self.options.database]

    # -- queues and bindings ---------------------------------------------

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> Any:
        # Keep expires/message_ttl as x-expires/x-message-ttl: pidbox queues
        # need them to vanish when their worker is gone.
        return to_rabbitmq_queue_arguments(arguments, **kwargs)

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        from .models import Queue

        refuse_nul("queue name", queue)
        arguments = kwargs.get("arguments") or {}
        # One upsert statement, not update_or_create's read-then-write
        # transaction: on SQLite a deferred transaction that reads then
        # writes fails at once with "database is locked" when another
        # process wrote in between, instead of waiting its turn.
        Queue.objects.using(self.options.database).bulk_create(
            [
                Queue(
                    name=queue,
                    created_at=timezone.now(),
                    last_seen_at=timezone.now(),
                    expires_ms=_int_or_none(arguments.get("x-expires")),
                    message_ttl_ms=_int_or_none(arguments.get("x-message-ttl")),
                    durable=bool(kwargs.get("durable", True)),
                    auto_delete=bool(kwargs.get("auto_delete", False)),
                )
            ],
            update_conflicts=True,
            # MySQL's ON DUPLICATE KEY UPDATE takes no conflict target.
            unique_fields=["name"] if self.db.features.supports_update_conflicts_with_target else None,
            update_fields=["last_seen_at", "expires_ms", "message_ttl_ms", "durable", "auto_delete"],
        )
        self.connection.forget_queue(queue)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        from .models import Queue

        return Queue.objects.using(self.options.database).filter(name=queue).exists()

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        from .models import Binding

        refuse_nul("exchange name", exchange)
        refuse_nul("routing key", routing_key)
        refuse_nul("queue name", queue)
        # Insert-or-ignore in one statement, for the reason given in _new_queue.
        Binding.objects.using(self.options.database).bulk_create(
            [Binding(exchange=exchange, routing_key=routing_key or "", pattern=pattern or "", queue=queue)],
            ignore_conflicts=True,
        )

    def get_table(self, exchange: str) -> list[tuple[str, str, str]]:
        from .models import Binding

        # Read every time, never cached: a pidbox reply binding is created by
        # a client process moments before the worker must find it. Not a
        # reason to insert the transaction's waiting messages (.deferred).
        with deferred.passing(self.db):
            return [
                (rk, pattern or None, q)
                for rk, pattern, q in Binding.objects.using(self.options.database)
                .filter(exchange=exchange)
                .values_list("routing_key", "pattern", "queue")
            ]

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        from .models import Binding, Message, Queue

        using = self.options.database
        Binding.objects.using(using).filter(queue=queue).delete()
        Message.objects.using(using).filter(queue=queue).exclude(
            status=Message.Status.DEAD
        ).delete()
        Queue.objects.using(using).filter(name=queue).delete()

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False, **kwargs: Any) -> None:
        # Not the base's loop over this process's bindings: the queue may
        # have been declared and bound by another process.
        if if_empty and self._size(queue):
            return
        self.state.queue_bindings_delete(queue)
        self._delete(queue)

    def _size(self, queue: str) -> int:
        """Messages waiting in ``queue``: ready, including ones not yet due."""
        from .models import Message

        return Message.objects.using(self.options.database).ready().filter(queue=queue).count()

    def _purge(self, queue: str) -> int:
        """Delete the waiting messages of ``queue``; leased and dead ones stay."""
        from .models import Message

        deleted, _ = Message.objects.using(self.options.database).ready().filter(queue=queue).delete()
        return deleted

    # -- publishing --------------------------------------------------------

    def basic_publish(self, message: Any, exchange: str, routing_key: str, **kwargs: Any) -> Any:
        if self.connection is None:
            # kombu's Producer took this channel before a nested ensure() (a
            # queue declare that had to reconnect) closed it. A connection
            # error lets the producer's own ensure() revive it and publish
            # again; anything else would reach the caller.
            raise KombuConnectionError(
                f"channel {self.channel_id} was closed by a reconnect; publish on the new channel"
            )
        return super().basic_publish(message, exchange, routing_key, **kwargs)

    def _next_delivery_tag(self) -> str:
        # kombu's is a uuid4 per published message; on this transport the tag
        # is the row's, given when a consumer claims it (_decode).
        return ""

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Insert on the caller's connection: it joins the caller's transaction."""
        self._insert([self._row_for(queue, message, timezone.now())])

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        now = timezone.now()
        self._insert([self._row_for(queue, message, now) for _, _, queue in self.get_table(exchange)])

    def _insert(self, rows: list[publish.NewMessage]) -> None:
        if self._buffer is not None:
            self._buffer.extend(rows)
            if self._streaming and len(self._buffer) >= publish.BATCH_ROWS:
                # Sent now, its result collected later: the server inserts
                # these while the caller builds the next ones.
                full, self._buffer = self._buffer, []
                publish.insert(self.db, full)
            return
        db = self.db
        if self._deferring(db):
            deferred.add(db, rows)  # inserted before the transaction's next statement or commit
            return
        self._insert_now(rows)

    def _insert_now(self, rows: list[publish.NewMessage]) -> None:
        try:
            publish.insert_all(self.db, rows, durable=self.options.publish_synchronous_commit)
        except DB_CONNECTION_ERRORS:
            self._drop_broken_connection()
            raise

    @property
    def buffering(self) -> bool:
        """Whether a publish only collects its row: inside :meth:`buffered_publish` or a transaction (:mod:`.deferred`)."""
        return self._buffer is not None or self._deferring(self.db)

    def _deferring(self, db: Any) -> bool:
        """Whether a publish on ``db`` waits for its transaction's next statement or commit (:mod:`.deferred`)."""
        return self.options.defer_in_transaction and db.in_atomic_block

    @contextmanager
    def buffered_publish(self, together: bool = False) -> Iterator[None]:
        """Publish the messages sent inside the block as multi-row INSERTs.

        One statement per ``publish.BATCH_ROWS`` messages instead of one per
        message (a group of 10,000 is 10 round trips, and in autocommit 10
        commits instead of 10,000). The messages are inserted when the
        block ends, also when it ends with an exception (what was published
        before the error stays published, as without the block). Nested
        blocks are part of the outermost one.

        Inside a transaction (with ``defer_in_transaction``, the default)
        the block adds nothing: the transaction's publishes are inserted
        together anyway (:mod:`.deferred`). In a transaction of its own on
        PostgreSQL each full batch is sent as it fills, in pipeline mode
        (:func:`.publish.pipelined`). ``together`` (groups) gives the
        block a transaction of its own where there is none, so that it
        streams too: the messages then commit together when the block ends,
        and an error inside the block still commits what was published
        before it, then propagates.
        """
        if self._buffer is not None:
            yield
            return
        db = self.db
        if self._deferring(db):
            # The transaction's publishes are inserted together already
            # (.deferred), and on PostgreSQL sent in smaller batches.
            yield
            return
        own = together and not db.in_atomic_block and db.vendor == "postgresql"
        failed: BaseException | None = None
        with transaction.atomic(using=self.options.database) if own else nullcontext():
            with publish.pipelined(db) as streaming:
                self._buffer, self._streaming = [], streaming
                try:
                    yield
                except DatabaseError:
                    if own:  # the transaction is lost: roll it all back
                        self._buffer = []
                    raise
                except BaseException as exc:
                    if not own:
                        raise
                    failed = exc  # raised after the commit of what came before it
                finally:
                    rows, self._buffer, self._streaming = self._buffer, None, False
                    # Now, not deferred to the commit: inside the pipeline,
                    # whose end must see these INSERTs' errors.
                    self._insert_now(rows)
        if failed is not None:
            raise failed

    def _row_for(self, queue: str, message: dict[str, Any], now: dt.datetime) -> publish.NewMessage:
        # Plain kombu publishes reach here without celery_compat's check.
        refuse_nul("queue name", queue)
        payload = kombu_dumps(message)
        if self.options.sign_messages:
            payload = signing.sign(payload, queue, signing.signing_keys(self.options.signing_key))
        limit = self.options.max_payload_bytes
        if limit is not None and len(payload) > limit:
            raise PayloadTooLarge(
                f"message for queue {queue!r} is {len(payload)} bytes, over the django:// "
                f"transport's max_payload_bytes={limit}: store large data elsewhere and send "
                f"a reference, or raise max_payload_bytes in the transport options."
            )
        headers = message.get("headers") or {}
        available_at = now
        if self.options.honor_eta:
            available_at = _parse_eta(headers.get("eta")) or now
        ttl = self.connection.queue_ttl_ms(queue)
        return publish.NewMessage(
            queue=queue,
            payload=payload,
            priority=self._get_message_priority(message),
            available_at=available_at,
            expires_at=now + dt.timedelta(milliseconds=ttl) if ttl else None,
            created_at=now,
            task_id=_column_text(headers.get("id")),
            task_name=_column_text(headers.get("task")),
        )

    def _drop_broken_connection(self) -> None:
        db = self.db
        if not db.in_atomic_block:
            # Let the next attempt (kombu's retry) reconnect. Inside the
            # caller's transaction the error must surface: it is already lost.
            db.close()

    # -- consuming ---------------------------------------------------------

    def basic_consume(self, queue: str, no_ack: bool, callback: Any, consumer_tag: str, **kwargs: Any) -> Any:
        if no_ack:
            self._noack_queues.add(queue)
        # kombu passes the consumer's bound ``_receive_callback``: its
        # ``accept`` is the content types this consumer takes. Celery acks
        # (drops) a message it cannot decode, so refused content types are
        # set aside here, where they can still be kept.
        self._accept[queue] = getattr(getattr(callback, "__self__", None), "accept", None)
        result = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        self.connection.consuming()
        return result

    def basic_cancel(self, consumer_tag: str) -> Any:
        queue = self._tag_to_queue.get(consumer_tag)
        result = super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._active_queues:
            self._noack_queues.discard(queue)
            self._accept.pop(queue, None)
        return result

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        """``basic_get``: claim one message of ``queue`` or raise ``Empty``."""
        self.connection.consuming()
        for row_queue, payload in self._claim([queue], 1):
            return payload
        raise virtual.Empty()

    def held_back(self) -> bool:
        """Whether the prefetch window is too full for a claim to be worth its statement.

        A claim the moment one slot frees takes one row per statement: under
        a backlog, as many claims as tasks. Waiting until half the window
        (at most :data:`HOLD_BACK_MAX` slots) is free takes them in batches,
        while the other half still feeds the pool. An empty window is never
        held back, so an idle consumer claims at once.
        """
        qos = self.qos
        if not qos.can_consume():
            return True
        prefetch = qos.prefetch_count
        if not prefetch:
            return False
        return qos.can_consume_max_estimate() < min(max(1, prefetch // 2), HOLD_BACK_MAX)

    def claim_and_deliver(self) -> int:
        """Claim a batch for this channel's consumers and deliver it.

        Sets :attr:`found_nothing_at` when the claim found nothing (cleared
        when one finds rows), so the transport need not claim again for this
        channel at every ack of another's message.
        """
        if not self._consumers or self.held_back():
            return 0
        limit = self.qos.can_consume_max_estimate()
        limit = min(limit or self.options.max_batch, self.options.max_batch)
        delivered = 0
        for queue, payload in self._claim(list(self._active_queues), limit):
            self.connection._deliver(payload, queue)
            delivered += 1
        self.found_nothing_at = None if delivered else monotonic()
        return delivered

    def _claim(self, queues: list[str], limit: int) -> list[tuple[str, dict[str, Any]]]:
        from .models import Message

        options = self.options
        db = self.db
        now = timezone.now()
        try:
            rows = self._claimer.claim(
                db,
                queues,
                self.token,
                limit,
                now,
                now + dt.timedelta(seconds=options.lease_seconds),
                options.priority_reverse,
            )
        except DB_CONNECTION_ERRORS:
            self._drop_broken_connection()
            raise
        if not rows:
            return []
        rows.sort(key=lambda r: r.id)
        ready: list[tuple[str, dict[str, Any]]] = []
        noack_ids: list[int] = []
        for row in rows:
            payload = self._decode(row)
            if payload is None:
                continue
            ready.append((row.queue, payload))
            if row.queue in self._noack_queues:
                noack_ids.append(row.id)
        if noack_ids:
            # no_ack consumers (pidbox, replies) take delivery as the ack.
            Message.objects.using(options.database).filter(id__in=noack_ids).delete()
        # Deliver in claim order: priority first, then publish order (the
        # rows were sorted by id above; the sort is stable).
        ready.sort(key=lambda item: self._get_message_priority(item[1], reverse=not options.priority_reverse))
        return ready

    def _decode(self, row: claims.ClaimedRow) -> dict[str, Any] | None:
        """The kombu message dict of a claimed row, or None if set aside."""
        reason = None
        try:
            payload = json.loads(row.payload)
            if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
                raise ValueError("not a kombu message dict with 'properties'")
        except ValueError as exc:
            payload = None
            reason = f"payload is not a kombu JSON message: {exc}"
        if payload is not None and self.options.sign_messages:
            reason = signing.verify(payload, row.queue, signing.signing_keys(self.options.signing_key))
        if payload is not None and reason is None:
            accept = self._accept.get(row.queue)
            content_type = payload.get("content-type")
            if accept is not None and content_type not in accept:
                reason = (
                    f"content type {content_type!r} is not accepted by the consumer of "
                    f"{row.queue!r} (accept: {sorted(accept)}); add it to accept_content "
                    f"to let it run"
                )
        if reason is not None:
            logger.error("message set aside as dead id=%s queue=%s reason=%s", row.id, row.queue, reason)
            leases.bury(self.options.database, row.id, reason, token=self.token)
            return None
        props = payload["properties"]
        props["delivery_tag"] = f"{row.id}.{row.delivery_count}"
        delivery_info = props.setdefault("delivery_info", {})
        delivery_info["redelivered"] = row.delivery_count > 1
        return payload

    def release_leases(self) -> int:
        try:
            return leases.release_all(self.options.database, self.token)
        except DatabaseError as exc:
            # This runs on the way out (channel close, interpreter exit), when
            # the server may be gone or the tables dropped (a test database):
            # nothing to retry, the leases lapse and are reaped by the next
            # consumer that finds the database.
            logger.warning("could not release leases of token=%s (%s); they will lapse", self.token, exc)
            return 0

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        leases.flush_finished(self.options.database)
        from .models import Consumer

        try:
            Consumer.objects.using(self.options.database).filter(token=self.token).delete()
        except DB_CONNECTION_ERRORS:
            pass


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class Transport(virtual.Transport):
    """kombu transport storing queues in Django models (``django://``)."""

    Channel = Channel

    driver_type = "sql"
    driver_name = "django"
    default_port = 0
    polling_interval = None

    implements = virtual.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(["direct", "topic", "fanout"]),
        heartbeats=False,
    )

    connection_errors = virtual.Transport.connection_errors + DB_CONNECTION_ERRORS
    channel_errors = virtual.Transport.channel_errors + (ObjectDoesNotExist, MultipleObjectsReturned)

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.options = TransportOptions.from_transport_options(client.transport_options)
        self._heartbeat: leases.Heartbeat | None = None
        self._waiter: Poller | None = None
        self._queue_ttls: dict[str, tuple[float, int | None]] = {}
        #: set by every ack/reject: a consumer held back by its prefetch
        #: limit waits on this, not on NOTIFY/polling (no message is coming
        #: to wake it; the slot it waits for is freed by an ack)
        self.capacity_freed = threading.Event()

    def driver_version(self) -> str:
        return django.get_version()

    @property
    def default_connection_params(self) -> dict[str, Any]:
        # No hostname: the database comes from Django's settings, and a
        # default here only makes kombu warn that none was supplied.
        return {"port": self.default_port}

    # -- connection ----------------------------------------------------------

    def establish_connection(self) -> Any:
        if not apps.ready:
            raise ImproperlyConfigured(
                "The django:// transport needs Django set up before it connects: set "
                "DJANGO_SETTINGS_MODULE and call django.setup() (Celery's Django fixup does "
                "this when proj/celery.py sets DJANGO_SETTINGS_MODULE), with "
                "'kombu_transport_django' in INSTALLED_APPS."
            )
        db = connections[self.options.database]
        if db.connection is not None and db.errors_occurred and not db.in_atomic_block and not db.is_usable():
            # kombu reconnects after a connection error, but Django keeps a
            # dead session until something closes it: only the paths that
            # publish and claim do (_drop_broken_connection), so an error
            # elsewhere (a queue declare, a binding) made every retry fail
            # on the same dead session.
            db.close()
        try:
            db.ensure_connection()
        except DB_CONNECTION_ERRORS:
            db.close()
            raise
        claims.check_supported(db)
        return super().establish_connection()

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        if self._waiter is not None:
            self._waiter.close()
            self._waiter = None

    def consuming(self) -> None:
        """Start heartbeating once this connection holds leases."""
        if self._heartbeat is None or not self._heartbeat.alive:
            self._heartbeat = leases.Heartbeat(self.options, self._lease_tokens)
            self._heartbeat.start()

    def _lease_tokens(self) -> dict[str, list[str]]:
        return {ch.token: list(ch._active_queues) for ch in list(self.channels) if not ch.closed}

    # -- queue metadata cache -----------------------------------------------

    def queue_ttl_ms(self, queue: str) -> int | None:
        """The queue's ``x-message-ttl``, cached for a few seconds per process."""
        cached = self._queue_ttls.get(queue)
        now = monotonic()
        if cached is not None and now - cached[0] < 5.0:
            return cached[1]
        from .models import Queue

        ttl = (
            Queue.objects.using(self.options.database)
            .filter(name=queue)
            .values_list("message_ttl_ms", flat=True)
            .first()
        )
        self._queue_ttls[queue] = (now, ttl)
        return ttl

    def forget_queue(self, queue: str) -> None:
        self._queue_ttls.pop(queue, None)

    # -- consuming -------------------------------------------------------------

    @property
    def waiter(self) -> Poller:
        if self._waiter is None:
            db = connections[self.options.database]
            if db.vendor == "postgresql" and self.options.use_listen_notify:
                self._waiter = PgListener(self.options.database, self.options.polling_interval or 1.0)
            else:
                self._waiter = Poller(
                    self.options.min_polling_interval, self.options.polling_interval or DEFAULT_POLLING_INTERVAL
                )
        return self._waiter

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:
        """Deliver at least one message, or raise ``socket.timeout``."""
        started = monotonic()
        waiter = self.waiter
        waited = False  # whether the last pass ended in a wait for new messages
        while True:
            delivered = 0
            throttled = False
            others = False  # a channel not held back has consumers (a worker's broadcast queue)
            queues: list[str] = []
            # Cleared before the checks: an ack from another thread after
            # this point wakes the wait below.
            self.capacity_freed.clear()
            now = monotonic()
            for channel in list(self.channels):
                if channel.closed:
                    continue
                queues.extend(channel._active_queues)
                if channel._consumers and channel.held_back():
                    throttled = True
                    continue
                others = others or bool(channel._consumers)
                found_nothing_at = channel.found_nothing_at
                if not waited and found_nothing_at is not None and now - found_nothing_at < RECLAIM_EMPTY_AFTER:
                    # Woken by an ack of another channel's message: this
                    # channel's queues had nothing a moment ago (a worker's
                    # broadcast queue, during a drain). Claimed again after a
                    # wait for new messages, or soon.
                    continue
                delivered += channel.claim_and_deliver()
            waited = False
            if delivered:
                waiter.activity()
                return
            remaining = None if timeout is None else timeout - (monotonic() - started)
            if remaining is not None and remaining <= 0:
                raise socket.timeout()
            wait = waiter.maximum if remaining is None else min(remaining, waiter.maximum)
            if throttled:
                # Held back by the prefetch limit (the pool acks from other
                # threads): wake on the ack that frees a slot. Waiting on
                # LISTEN here slept up to a second per batch on PostgreSQL,
                # since no new message notifies. Another channel's queues
                # are claimed again within RECLAIM_EMPTY_AFTER meanwhile: a
                # remote-control request is answered while the pool is full.
                self.capacity_freed.wait(min(wait, RECLAIM_EMPTY_AFTER) if others else wait)
                continue
            if wait > 0.1 and queues:
                due = claims.next_due(connections[self.options.database], queues, timezone.now())
                if due is not None:
                    wait = max(0.0, min(wait, (due - timezone.now()).total_seconds()))
            waiter.wait(wait, queues)
            waited = True
