"""Tables behind the ``django://`` transport.

The hot table is :class:`Message`: one row per message copy in a queue. A row
is *ready* (claimable once ``available_at`` has passed), *leased* to one
consumer (and *running* once a worker process marked it started: still
``LEASED``, with ``started_at`` set), or *dead* (kept for a person to look at,
with the reason). Acked messages are deleted, so the table holds only live
work and the dead.
"""

from __future__ import annotations

from django.db import models


class Queue(models.Model):
    """A declared queue; expiring ones (``x-expires``) vanish when unused."""

    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    #: touched by consumers' heartbeats; an expiring queue unseen for
    #: ``expires_ms`` is deleted with its messages and bindings.
    last_seen_at = models.DateTimeField()
    expires_ms = models.PositiveIntegerField(null=True, blank=True)
    message_ttl_ms = models.PositiveIntegerField(null=True, blank=True)
    durable = models.BooleanField(default=True)
    auto_delete = models.BooleanField(default=False)

    class Meta:
        db_table = "django_kombu_queue"

    def __str__(self) -> str:
        return self.name


class MessageQuerySet(models.QuerySet):
    def ready(self) -> MessageQuerySet:
        return self.filter(status=Message.Status.READY)

    def leased(self) -> MessageQuerySet:
        """Claimed by a consumer and not started yet (prefetched)."""
        return self.filter(status=Message.Status.LEASED, started_at__isnull=True)

    def running(self) -> MessageQuerySet:
        """Acked at start and running (or its worker died and the lease has not lapsed yet)."""
        return self.filter(RUNNING_ROWS)

    def dead(self) -> MessageQuerySet:
        return self.filter(status=Message.Status.DEAD)


class Message(models.Model):
    """One message in one queue, as kombu's virtual transport hands it over."""

    class Status(models.IntegerChoices):
        READY = 0, "ready"
        LEASED = 1, "leased"
        DEAD = 2, "dead"
        #: written only by workers older than migration 0005: a running row
        #: is now ``LEASED`` with ``started_at`` set (see ``started_at``).
        #: Still reaped as a lost run, for rows such a worker left behind.
        RUNNING = 3, "running"

    id = models.BigAutoField(primary_key=True)
    # A plain name, not a foreign key: publishing must not look a queue up.
    queue = models.CharField(max_length=200)
    #: the kombu message dict as JSON (body base64-encoded by kombu)
    payload = models.TextField()
    #: 0-9, higher first (AMQP order); see the ``priority_reverse`` option
    priority = models.PositiveSmallIntegerField(default=0)
    status = models.PositiveSmallIntegerField(choices=Status.choices, default=Status.READY)
    #: invisible until then: the Celery ``eta`` header, or the publish time
    available_at = models.DateTimeField()
    #: from the queue's ``x-message-ttl``; past it the row is dropped unseen
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivery_count = models.PositiveIntegerField(default=0)
    #: the consumer token holding the lease, and until when it is valid
    #: unless that consumer's heartbeat renews it
    lease_owner = models.CharField(max_length=64, null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    #: set when a worker process marks a ``LEASED`` row started (Celery's
    #: early ack, ``acks_late=False``): the row stays, leased to that process,
    #: until the run ends, and is never delivered again. The status stays
    #: ``LEASED`` and this column is in no index, so the start changes no
    #: indexed column: PostgreSQL updates the row in place (a HOT update) and
    #: InnoDB touches no secondary index. Cleared by the next claim; kept on
    #: a run that was lost (dead), to show when it started.
    started_at = models.DateTimeField(null=True, blank=True)
    #: denormalised from the Celery headers, for the admin and debugging
    task_id = models.CharField(max_length=255, blank=True, default="")
    task_name = models.CharField(max_length=255, blank=True, default="")
    #: why a dead message was set aside
    dead_reason = models.TextField(blank=True, default="")

    objects = MessageQuerySet.as_manager()

    class Meta:
        db_table = "django_kombu_message"
        indexes = [
            # The claim: ready rows of a queue in delivery order. Not a
            # partial index: MySQL has none and Django would skip it there.
            models.Index(
                fields=["queue", "status", "-priority", "available_at", "id"],
                name="django_kombu_msg_claim",
            ),
            # Leased rows: the reaper (by expiry) and a consumer's renewals
            # (status=leased, then lease_owner, a few rows). No index on
            # lease_owner alone: MariaDB would run acks through it and
            # deadlock them against renewals (see leases._lock_unlocked).
            models.Index(fields=["status", "leased_until"], name="django_kombu_msg_lease"),
            models.Index(fields=["expires_at"], name="django_kombu_msg_expires"),
            models.Index(fields=["task_id"], name="django_kombu_msg_task"),
        ]

    def __str__(self) -> str:
        return f"{self.queue}#{self.pk} {self.task_name or ''}".strip()

    @property
    def is_running(self) -> bool:
        """Whether the row is a started run (see ``started_at``)."""
        return (self.status == self.Status.LEASED and self.started_at is not None) or (
            self.status == self.Status.RUNNING
        )


#: rows of started runs, including the ``RUNNING`` rows of older workers
RUNNING_ROWS = models.Q(status=Message.Status.LEASED, started_at__isnull=False) | models.Q(
    status=Message.Status.RUNNING
)


class Binding(models.Model):
    """An exchange binding, shared by every process (fanout, topic, replies)."""

    exchange = models.CharField(max_length=200)
    routing_key = models.CharField(max_length=200, blank=True, default="")
    pattern = models.CharField(max_length=400, blank=True, default="")
    queue = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "django_kombu_binding"
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "routing_key", "queue"], name="django_kombu_binding_unique"
            )
        ]
        indexes = [models.Index(fields=["queue"], name="django_kombu_binding_queue")]

    def __str__(self) -> str:
        return f"{self.exchange} -[{self.routing_key}]-> {self.queue}"


class Consumer(models.Model):
    """A consuming channel that heartbeats; its leases live while it does."""

    token = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()

    class Meta:
        db_table = "django_kombu_consumer"
        indexes = [models.Index(fields=["heartbeat_at"], name="django_kombu_consumer_hb")]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"
