"""Read-only admin for results, like django-celery-results' (same columns, filters and search)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import GroupResult, TaskResult


class ReadOnlyAdmin(admin.ModelAdmin):
    """Results are written by workers only: view and delete, never add or edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TaskResult)
class TaskResultAdmin(ReadOnlyAdmin):
    list_display = ("task_id", "periodic_task_name", "task_name", "date_done", "status", "worker")
    list_filter = ("status", "date_done", "periodic_task_name", "task_name", "worker")
    search_fields = ("task_name", "task_id", "status", "task_args", "task_kwargs")
    date_hierarchy = "date_done"
    fieldsets = (
        (None, {"fields": ("task_id", "task_name", "periodic_task_name", "status", "worker", "retries", "queue",
                           "content_type", "content_encoding")}),
        ("Parameters", {"fields": ("task_args", "task_kwargs")}),
        ("Result", {"fields": ("result", "date_created", "date_started", "date_done", "traceback", "meta")}),
    )
    readonly_fields = ("result", "meta", "date_created", "date_started", "date_done")


@admin.register(GroupResult)
class GroupResultAdmin(ReadOnlyAdmin):
    list_display = ("group_id", "date_done")
    list_filter = ("date_done",)
    search_fields = ("group_id",)
    date_hierarchy = "date_done"
    fields = ("group_id", "date_created", "date_done", "content_type", "content_encoding", "result")
    readonly_fields = ("result", "date_created", "date_done")


# Periodic tasks, schedules and beat runs (celery_compat.beat).
from .beat import admin as beat_admin  # noqa: E402,F401
