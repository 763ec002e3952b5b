"""The queue tables in the admin: queue depths, messages with filters and actions.

- *Queues*: ready, scheduled (an ETA in the future), leased and dead counts
  per queue, computed in the same SQL statement as the list (one scalar
  subquery per column, no query per row).
- *Messages*: filter by state (pending, future, running, dead), queue and
  task name; the payload decoded (headers, properties, body); actions to
  requeue dead messages, revoke their tasks (``celery_compat`` installed)
  and delete. Each action asks for a model permission:
  requeue ``django_kombu.change_message``, revoke ``celery_compat.add_revoke``,
  delete ``django_kombu.delete_message``.
- *Bindings* and *Consumers* (with their last heartbeat), read-only.

Rows are never edited by hand: no add or change forms.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from .models import Binding, Consumer, Message, Queue


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the transport only: view (and delete), never add or edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _count_in_queue(condition: Q) -> Coalesce:
    """Messages of the row's queue matching ``condition``, as a scalar subquery."""
    counted = (
        Message.objects.filter(condition, queue=OuterRef("name"))
        .order_by()
        .values("queue")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def queue_depth_conditions(now: Any) -> dict[str, Q]:
    """The four message states the admin and the dashboard count, as of ``now``."""
    ready = Message.Status.READY
    return {
        "ready": Q(status=ready, available_at__lte=now),
        "scheduled": Q(status=ready, available_at__gt=now),
        # claimed by a worker: prefetched or running (acked at start: started_at
        # set; RUNNING from workers older than migration 0005)
        "leased": Q(status__in=(Message.Status.LEASED, Message.Status.RUNNING)),
        "dead": Q(status=Message.Status.DEAD),
    }


def queue_depths(now: Any = None) -> dict[str, dict[str, int]]:
    """``{queue: {"ready", "scheduled", "leased", "dead"}}`` for every queue with messages (one query)."""
    now = now or timezone.now()
    conditions = queue_depth_conditions(now)
    rows = (
        Message.objects.order_by()
        .values("queue")
        .annotate(**{name: Count("id", filter=condition) for name, condition in conditions.items()})
    )
    return {row["queue"]: {name: row[name] for name in conditions} for row in rows}


@admin.register(Queue)
class QueueAdmin(ReadOnlyAdmin):
    list_display = ("name", "ready", "scheduled", "leased", "dead", "durable", "auto_delete", "expires_ms",
                    "message_ttl_ms", "last_seen_at")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        conditions = queue_depth_conditions(timezone.now())
        return super().get_queryset(request).annotate(
            **{f"n_{name}": _count_in_queue(condition) for name, condition in conditions.items()}
        )

    @admin.display(description="ready", ordering="n_ready")
    def ready(self, obj: Queue) -> int:
        return obj.n_ready  # type: ignore[attr-defined]

    @admin.display(description="scheduled", ordering="n_scheduled")
    def scheduled(self, obj: Queue) -> int:
        return obj.n_scheduled  # type: ignore[attr-defined]

    @admin.display(description="leased", ordering="n_leased")
    def leased(self, obj: Queue) -> int:
        return obj.n_leased  # type: ignore[attr-defined]

    @admin.display(description="dead", ordering="n_dead")
    def dead(self, obj: Queue) -> int:
        return obj.n_dead  # type: ignore[attr-defined]


class MessageStateFilter(admin.SimpleListFilter):
    """pending (ready and due), future (an ETA ahead), running (leased), dead."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "pending"), ("future", "future (ETA)"), ("running", "running (leased)"),
                ("dead", "dead")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        value = self.value()
        if value == "pending":
            return queryset.filter(status=Message.Status.READY, available_at__lte=now)
        if value == "future":
            return queryset.filter(status=Message.Status.READY, available_at__gt=now)
        if value == "running":
            return queryset.filter(status__in=(Message.Status.LEASED, Message.Status.RUNNING))
        if value == "dead":
            return queryset.filter(status=Message.Status.DEAD)
        return queryset


class QueueNameFilter(admin.SimpleListFilter):
    """The queues that hold messages (from the message table itself)."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = Message.objects.order_by("queue").values_list("queue", flat=True).distinct()[:200]
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(queue=self.value()) if self.value() else queryset


class TaskNameFilter(QueueNameFilter):
    """Task names, from the Celery ``task`` header (kept in ``Message.task_name`` at publish)."""

    title = "task name"
    parameter_name = "task"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = Message.objects.exclude(task_name="").order_by("task_name").values_list(
            "task_name", flat=True).distinct()[:200]
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(task_name=self.value()) if self.value() else queryset


def decode_payload(payload: str) -> dict[str, Any]:
    """The kombu message dict with its body decoded where it can be (JSON body shown as data)."""
    try:
        message = json.loads(payload)
    except ValueError:
        return {"undecodable payload": payload}
    if not isinstance(message, dict):
        return {"payload": message}
    body = message.get("body")
    properties = message.get("properties") or {}
    if isinstance(body, str) and properties.get("body_encoding") == "base64":
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raw = None
        if raw is not None:
            if (message.get("content-type") or "").endswith("json"):
                try:
                    message["body"] = json.loads(raw.decode(message.get("content-encoding") or "utf-8"))
                except (ValueError, LookupError):
                    message["body"] = raw.decode("utf-8", "replace")
            else:
                message["body"] = f"<{len(raw)} bytes of {message.get('content-type')}>"
    return message


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "queue", "task_name", "task_id", "state", "priority", "available_at",
                    "delivery_count", "lease_owner", "leased_until")
    list_filter = (MessageStateFilter, QueueNameFilter, TaskNameFilter)
    search_fields = ("task_id", "task_name", "dead_reason")
    date_hierarchy = "created_at"
    actions = ("requeue", "revoke", "delete_selected")
    readonly_fields = ("queue", "task_name", "task_id", "state", "priority", "available_at", "expires_at",
                       "created_at", "delivery_count", "lease_owner", "leased_until", "started_at", "dead_reason",
                       "decoded_payload")
    fields = readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_kombu.change_message")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return apps.is_installed("celery_compat") and request.user.has_perm("celery_compat.add_revoke")

    @admin.display(description="state", ordering="status")
    def state(self, obj: Message) -> str:
        if obj.status == Message.Status.READY and obj.available_at > timezone.now():
            return "future"
        return {Message.Status.READY: "pending", Message.Status.LEASED: "running",
                Message.Status.RUNNING: "running"}.get(obj.status, "dead")

    @admin.display(description="payload")
    def decoded_payload(self, obj: Message) -> str:
        return format_html("<pre style=\"white-space: pre-wrap\">{}</pre>",
                           json.dumps(decode_payload(obj.payload), indent=2, sort_keys=True, default=str))

    @admin.action(description="Requeue selected dead messages", permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: QuerySet) -> None:
        selected = queryset.count()
        # Delivery count restarts: a message past max_redeliveries would be dead again at once.
        count = queryset.filter(status=Message.Status.DEAD).update(
            status=Message.Status.READY, available_at=timezone.now(), lease_owner=None, leased_until=None,
            started_at=None, delivery_count=0, dead_reason="",
        )
        skipped = selected - count
        self.message_user(request, f"Requeued {count} dead message(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, "Only dead messages can be requeued; the others were left alone.",
                              messages.WARNING)

    @admin.action(description="Revoke the tasks of selected messages", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        from celery_compat._state import get_current_app
        from celery_compat.revokes import record_revoke

        ids = sorted(set(queryset.exclude(task_id="").values_list("task_id", flat=True)))
        if not ids:
            self.message_user(request, "The selected messages carry no task id: nothing revoked.",
                              messages.WARNING)
            return
        record_revoke(get_current_app(), ids)
        self.message_user(
            request, f"Revoked {len(ids)} task(s): workers skip them, they are REVOKED in the results.",
            messages.SUCCESS,
        )


@admin.register(Binding)
class BindingAdmin(ReadOnlyAdmin):
    list_display = ("exchange", "routing_key", "queue", "created_at")
    search_fields = ("exchange", "queue")


@admin.register(Consumer)
class ConsumerAdmin(ReadOnlyAdmin):
    list_display = ("hostname", "pid", "queues", "started_at", "heartbeat_at")
