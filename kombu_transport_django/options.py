"""Transport options: names, defaults and validation, read once per connection.

Options come from ``kombu.Connection(transport_options=...)``, i.e. Celery's
``broker_transport_options``. Nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportOptions:
    #: Django database alias holding the queue tables.
    database: str = "default"
    #: Longest sleep between two empty polls, in seconds. On PostgreSQL with
    #: LISTEN/NOTIFY this is only the safety net; elsewhere polling starts at
    #: ``min_polling_interval`` after a message and doubles up to this
    #: (default 0.05 s without LISTEN).
    polling_interval: float | None = None
    min_polling_interval: float = 0.005
    #: A claimed message stays leased this long unless its consumer's
    #: heartbeat renews it; a dead consumer's messages return after it.
    lease_seconds: float = 30.0
    #: How often a consuming connection heartbeats (renews leases, keeps its
    #: queues alive, reaps lapsed leases and expired queues).
    heartbeat_interval: float = 5.0
    #: A message delivered this many times without an ack is set aside as
    #: dead instead of looping. ``None`` means redeliver forever.
    max_redeliveries: int | None = 10
    #: Most messages claimed by one statement.
    max_batch: int = 100
    #: Withhold messages until their Celery ``eta`` (durable ETA).
    honor_eta: bool = True
    #: ``True`` makes 0 the highest priority (Redis-style); default is AMQP's
    #: order, where 9 is delivered first.
    priority_reverse: bool = False
    #: PostgreSQL: wake consumers with LISTEN/NOTIFY. Turn off behind
    #: PgBouncer in transaction pooling mode, which does not support LISTEN.
    use_listen_notify: bool = True
    #: Largest payload accepted by ``_put``, in bytes (``None``: no limit).
    max_payload_bytes: int | None = 10 * 1024 * 1024
    #: Sign stored messages with an HMAC and deliver only verified ones
    #: (see :mod:`.signing`); publishers and consumers must agree.
    sign_messages: bool = False
    #: The HMAC key; default ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS``).
    signing_key: str | None = None
    #: PostgreSQL: ``False`` commits a task's start mark (the early ack
    #: celery_compat's worker writes just before the task runs, and the
    #: previous task's result when it is written in the same statement)
    #: without waiting for the disk. A database server crash can then undo the last fraction of
    #: a second of them (see docs/transport.md). Elsewhere it changes nothing.
    synchronous_commit: bool = True
    #: PostgreSQL: ``False`` commits a message published outside a
    #: transaction (``delay()`` in autocommit) without waiting for the disk.
    #: A database server crash can then lose the messages published in the
    #: last fraction of a second (see docs/transport.md). Messages published
    #: inside a transaction commit with it, as it does. Elsewhere it changes nothing.
    publish_synchronous_commit: bool = True
    #: Inside ``transaction.atomic()``, insert published messages together
    #: just before the transaction's next statement or its commit, instead
    #: of one INSERT per publish (docs/transport.md, "How messages live in
    #: the table"). ``False``: each publish inserts at once, and a database
    #: error surfaces in it.
    defer_in_transaction: bool = True

    @classmethod
    def from_transport_options(cls, options: Mapping[str, Any]) -> TransportOptions:
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in options.items():
            if name not in known:
                continue  # kombu and Celery put their own keys here too
            values[name] = value
        opts = cls(**values)
        opts.validate()
        return opts

    def validate(self) -> None:
        def positive(name: str, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ImproperlyConfigured(
                    f"django:// transport option {name}={value!r} is invalid: "
                    f"use a number greater than 0"
                    + (" or None" if allow_none else "")
                    + " in broker_transport_options / transport_options."
                )

        def boolean(name: str) -> None:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ImproperlyConfigured(
                    f"django:// transport option {name}={value!r} is invalid: "
                    f"use True or False in broker_transport_options / transport_options."
                )

        positive("polling_interval", allow_none=True)
        positive("min_polling_interval")
        positive("lease_seconds")
        positive("heartbeat_interval")
        positive("max_redeliveries", allow_none=True)
        positive("max_batch")
        positive("max_payload_bytes", allow_none=True)
        boolean("sign_messages")
        boolean("synchronous_commit")
        boolean("defer_in_transaction")
        boolean("publish_synchronous_commit")
        if self.signing_key is not None and (not isinstance(self.signing_key, str) or not self.signing_key):
            raise ImproperlyConfigured(
                "django:// transport option signing_key is invalid: use a non-empty string, "
                "or leave it out to sign with SECRET_KEY."
            )
        if self.heartbeat_interval * 2 > self.lease_seconds:
            raise ImproperlyConfigured(
                f"django:// transport options heartbeat_interval={self.heartbeat_interval!r} "
                f"and lease_seconds={self.lease_seconds!r} would let live leases lapse: "
                f"keep lease_seconds at least twice heartbeat_interval."
            )
