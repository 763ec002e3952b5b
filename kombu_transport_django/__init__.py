"""Django database transport for kombu: ``broker_url = "django://"``.

Queues and messages are rows in your Django database; publishing joins the
caller's transaction, consumers hold leases kept alive by a heartbeat, and
messages of a consumer that died go back to their queue.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Fanout: Yes (bindings are rows, shared by all processes, so a
  real Celery worker's remote control -- revoke, ping, inspect -- works)
* Supports Priority: Yes (0-9, 9 first; ``priority_reverse`` for 0 first)
* Supports TTL: queue ``x-expires`` and ``x-message-ttl``; ETA withheld
  until due (Celery's ``eta`` header)

Connection String
=================
``django://``. The database is a Django alias, chosen with the ``database``
transport option (default ``"default"``). Add ``"kombu_transport_django"``
to ``INSTALLED_APPS`` and run ``migrate``.

Transport Options
=================
* ``database`` (``"default"``): Django database alias of the queue tables.
* ``polling_interval`` (1.0 on PostgreSQL with LISTEN, else 0.05): longest
  sleep between empty polls, seconds.
* ``min_polling_interval`` (0.005): first sleep after activity; doubles up
  to ``polling_interval``.
* ``lease_seconds`` (30): a claimed message returns to its queue this long
  after its consumer stops heartbeating.
* ``heartbeat_interval`` (5): seconds between a consumer's heartbeats.
* ``max_redeliveries`` (10): deliveries without an ack before a message is
  kept as dead instead of looping; ``None`` for no limit.
* ``max_batch`` (100): most messages claimed by one statement.
* ``honor_eta`` (True): keep messages invisible until their ``eta``.
* ``priority_reverse`` (False): True makes 0 the highest priority.
* ``use_listen_notify`` (True): PostgreSQL LISTEN/NOTIFY wake-ups; turn off
  behind PgBouncer in transaction pooling mode.
* ``max_payload_bytes`` (10 MiB): larger messages are refused at publish
  with ``PayloadTooLarge``; ``None`` for no limit.
"""

from kombu.transport import TRANSPORT_ALIASES

TRANSPORT = "kombu_transport_django.transport:Transport"


def register() -> None:
    """Make ``django://`` resolve to this transport (kombu has no plug-in hook)."""
    TRANSPORT_ALIASES["django"] = TRANSPORT


register()
