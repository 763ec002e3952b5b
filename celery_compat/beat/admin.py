"""Admin for periodic tasks and their schedules, like django-celery-beat's.

``PeriodicTaskAdmin`` has django-celery-beat's list columns, filters, search
and actions (enable, disable, toggle, run now). Its form checks that exactly
one schedule is set, that a clocked task is one-off, and that args, kwargs and
headers are JSON of the right kind, each error naming the bad value. Saving
moves the change marker: running schedulers pick the change up without a
restart. ``BeatRun`` (the claims: which worker sent which run) is read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import BeatRun, ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks


def _registered_task_names() -> list[str]:
    try:
        from .._state import get_current_app

        app = get_current_app()
        app.finalize(auto=True)
        return sorted(name for name in app.tasks if not name.startswith("celery."))
    except Exception:  # the admin still works without an app
        return []


class TaskNameWidget(forms.TextInput):
    """A text input suggesting the registered task names (a ``<datalist>``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attrs.setdefault("list", "celery-compat-task-names")
        self.attrs.setdefault("size", 60)

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> str:
        from django.utils.html import format_html, format_html_join
        from django.utils.safestring import mark_safe

        options = format_html_join("", '<option value="{}">', ((n,) for n in _registered_task_names()))
        datalist = format_html('<datalist id="celery-compat-task-names">{}</datalist>', options)
        return mark_safe(super().render(name, value, attrs, renderer) + datalist)


class PeriodicTaskForm(forms.ModelForm):
    """The periodic task form: the model's ``clean()`` does the checks, per field."""

    class Meta:
        model = PeriodicTask
        fields = "__all__"
        widgets = {
            "task": TaskNameWidget(),
            "args": forms.Textarea(attrs={"rows": 2, "cols": 60}),
            "kwargs": forms.Textarea(attrs={"rows": 2, "cols": 60}),
            "headers": forms.Textarea(attrs={"rows": 2, "cols": 60}),
        }


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(admin.ModelAdmin):
    form = PeriodicTaskForm
    list_display = ("name", "enabled", "scheduler", "interval", "start_time", "last_run_at", "one_off",
                    "total_run_count")
    list_filter = ["enabled", "one_off", "task", "start_time", "last_run_at"]
    search_fields = ("name", "task")
    readonly_fields = ("last_run_at", "total_run_count", "date_changed")
    actions = ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks")
    fieldsets = (
        (None, {"fields": ("name", "task", "enabled", "description")}),
        ("Schedule", {"fields": ("interval", "crontab", "clocked", "start_time", "one_off", "expires",
                                 "expire_seconds"),
                      "description": "Set exactly one of interval, crontab and clocked."}),
        ("Arguments", {"fields": ("args", "kwargs")}),
        ("Execution options", {"fields": ("queue", "exchange", "routing_key", "priority", "headers"),
                               "classes": ("collapse",)}),
        ("Runs", {"fields": ("last_run_at", "total_run_count", "date_changed")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("interval", "crontab", "clocked")

    @admin.display(description="Schedule")
    def scheduler(self, obj: PeriodicTask) -> str:
        return str(obj.scheduler or "-")

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet, value: bool | None) -> None:
        count = 0
        for task in queryset:
            task.enabled = (not task.enabled) if value is None else value
            task.save()  # save(): resets a disabled task, moves the change marker
            count += 1
        word = {True: "enabled", False: "disabled", None: "toggled"}[value]
        self.message_user(request, f"{count} periodic task{'s' if count != 1 else ''} {word}.")

    @admin.action(description="Enable selected tasks")
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected tasks")
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description="Toggle activity of selected tasks")
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, None)

    @admin.action(description="Run selected tasks now")
    def run_tasks(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Send each selected task once, now, with its arguments and options (not counted as a scheduled run)."""
        from .._state import get_current_app
        from .entries import BadRow, entry_from_row
        from .scheduler import send_entry

        app = get_current_app()
        sent = []
        for row in queryset.select_related("interval", "crontab", "clocked"):
            try:
                entry = entry_from_row(row)
            except BadRow as exc:
                self.message_user(request, f"{row.name}: not sent: {exc}", level=messages.ERROR)
                continue
            result = send_entry(app, entry)
            sent.append(f"{row.name} ({result.id})")
        if sent:
            self.message_user(request, f"Sent {len(sent)} task{'s' if len(sent) != 1 else ''}: {', '.join(sent)}")


class ScheduleAdmin(admin.ModelAdmin):
    """Schedules are shared by tasks: saving one moves the change marker (the model's signals)."""


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(ScheduleAdmin):
    list_display = ("__str__", "every", "period")


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(ScheduleAdmin):
    list_display = ("__str__", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
    fieldsets = ((None, {"fields": ("minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone"),
                         "description": "Celery's crontab: a day must match both day of month and day of week "
                                        "(unlike cron); Sunday is 0. Read on the wall clock of the time zone."}),)


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(ScheduleAdmin):
    list_display = ("__str__", "clocked_time")


@admin.register(BeatRun)
class BeatRunAdmin(admin.ModelAdmin):
    """The claims: one row per run sent, with the worker that sent it. Read-only."""

    list_display = ("name", "due_at", "claimed_at", "hostname", "task", "task_id")
    list_filter = ("name", "hostname")
    search_fields = ("name", "task", "task_id")
    date_hierarchy = "due_at"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


__all__ = ["PeriodicTaskAdmin", "PeriodicTasks"]
