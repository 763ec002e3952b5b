"""Read-only views of the queue tables; actions come with the admin issue."""

from django.contrib import admin

from .models import Binding, Consumer, Message, Queue


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Queue)
class QueueAdmin(ReadOnlyAdmin):
    list_display = ("name", "durable", "auto_delete", "expires_ms", "message_ttl_ms", "last_seen_at")
    search_fields = ("name",)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "queue", "task_name", "task_id", "status", "priority",
                    "available_at", "delivery_count", "lease_owner", "leased_until")
    list_filter = ("status", "queue", "task_name")
    search_fields = ("task_id", "task_name", "dead_reason")
    date_hierarchy = "created_at"


@admin.register(Binding)
class BindingAdmin(ReadOnlyAdmin):
    list_display = ("exchange", "routing_key", "queue", "created_at")
    search_fields = ("exchange", "queue")


@admin.register(Consumer)
class ConsumerAdmin(ReadOnlyAdmin):
    list_display = ("hostname", "pid", "queues", "started_at", "heartbeat_at")
