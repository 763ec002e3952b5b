"""The admin for results, workers, revokes and the dashboard.

- *Task results* (django-celery-results' columns, filters and search) with
  a progress bar for running tasks whose ``update_state`` meta has
  ``current``/``total``, the arguments, result, traceback and the task's
  log lines readable on the detail page, and the workflow: parent, root
  and, on a root task's page, every descendant (chain steps, chord parts
  and body, ``replace()`` replacements). Actions: re-run (publish the same
  task with the same arguments under a new id; needs
  ``celery_compat.change_taskresult``) and delete.
- *Workers*: what each worker reported at its last heartbeat.
- *Revokes*: the persistent revoke rows; deleting one un-revokes for
  workers started later.
- *Dashboard*: throughput and failures over the last hour, queue depths.

Nothing here is edited by hand: no add or change forms.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from . import states
from .models import Dashboard, GroupResult, Revoke, TaskResult, Worker

#: Descendants listed on a root task's page at most.
DESCENDANTS_SHOWN = 200
#: States a task can be re-run from.
RERUNNABLE_STATES = (states.FAILURE, states.REVOKED)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by workers only: view and delete, never add or edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pre(text: Any) -> SafeString | str:
    if text in (None, ""):
        return "-"
    return format_html('<pre class="cc-pre">{}</pre>', text)


def _json_column(row: TaskResult, value: str | None) -> Any:
    """A JSON-serialized column decoded; other serializers (pickle…) are shown as stored, never loaded."""
    if value is None:
        return None
    if row.content_type and "json" not in row.content_type:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def progress_of(row: TaskResult) -> tuple[float, float, int] | None:
    """``(current, total, percent)`` of an unfinished task whose stored meta has numeric current/total."""
    if row.status in states.READY_STATES:
        return None
    meta = _json_column(row, row.result)
    if not isinstance(meta, dict):
        return None
    current, total = meta.get("current"), meta.get("total")
    if isinstance(current, bool) or isinstance(total, bool):
        return None
    if not isinstance(current, (int, float)) or not isinstance(total, (int, float)) or total <= 0:
        return None
    percent = int(max(0, min(100, 100 * current / total)))
    return current, total, percent


def _link(row_pk: Any, text: str) -> str:
    return format_html('<a href="{}">{}</a>', reverse("admin:celery_compat_taskresult_change", args=[row_pk]), text)


def rerun_arguments(row: TaskResult) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments ``row``'s task ran with, read back from the stored row.

    Raises:
        ValueError: the row has no task name or arguments (stored without
            ``result_extended``), or they were stored as a repr that cannot
            be read back (truncated, or objects other than literals).
    """
    if not row.task_name or row.task_args is None:
        raise ValueError(
            f"task {row.task_id} was stored without its name and arguments: set CELERY_RESULT_EXTENDED = True "
            f"so that results keep them"
        )
    args = _literal(row, row.task_args, (list, tuple), "arguments")
    kwargs = _literal(row, row.task_kwargs, (dict,), "keyword arguments") if row.task_kwargs is not None else {}
    return list(args), dict(kwargs)


def _literal(row: TaskResult, column: str, types: tuple[type, ...], what: str) -> Any:
    value = _json_column(row, column)
    if isinstance(value, str):
        # Protocol 2 keeps argsrepr/kwargsrepr: Python reprs of the arguments.
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(
                f"the {what} of task {row.task_id} were stored as {value!r}, which cannot be read back "
                f"(truncated, or not plain literals); publish it again from code"
            ) from None
        if _has_ellipsis(value):
            # saferepr marks what it cut with "...", which literal_eval reads as Ellipsis.
            raise ValueError(
                f"the {what} of task {row.task_id} were stored truncated ({_json_column(row, column)!r}) and "
                f"cannot be read back; publish it again from code"
            )
    if not isinstance(value, types):
        raise ValueError(f"the {what} of task {row.task_id} are {value!r}, not a {types[0].__name__}")
    return value


def _has_ellipsis(value: Any) -> bool:
    if value is Ellipsis:
        return True
    if isinstance(value, dict):
        return any(_has_ellipsis(key) or _has_ellipsis(item) for key, item in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_has_ellipsis(item) for item in value)
    return False


@admin.register(TaskResult)
class TaskResultAdmin(ReadOnlyAdmin):
    list_display = ("task_id", "periodic_task_name", "task_name", "date_done", "status", "progress", "worker",
                    "workflow_root")
    list_filter = ("status", "date_done", "periodic_task_name", "task_name", "worker")
    search_fields = ("task_name", "task_id", "status", "task_args", "task_kwargs")
    date_hierarchy = "date_done"
    actions = ("rerun", "delete_selected")
    fieldsets = (
        (None, {"fields": ("task_id", "task_name", "periodic_task_name", "status", "progress", "worker",
                           "retries", "queue", "content_type", "content_encoding")}),
        ("Parameters", {"fields": ("args_display", "kwargs_display")}),
        ("Result", {"fields": ("result_display", "date_created", "date_started", "date_done",
                               "traceback_display", "meta_display")}),
        ("Log", {"fields": ("log_display",)}),
        ("Workflow", {"fields": ("workflow",)}),
    )
    readonly_fields = ("progress", "args_display", "kwargs_display", "result_display", "traceback_display",
                       "meta_display", "log_display", "workflow", "date_created", "date_started", "date_done")

    class Media:
        css = {"all": ("celery_compat/admin.css",)}

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("celery_compat.change_taskresult")

    @admin.display(description="progress")
    def progress(self, obj: TaskResult) -> SafeString | str:
        found = progress_of(obj)
        if found is None:
            return "-"
        current, total, percent = found
        return format_html(
            '<progress class="cc-progress" value="{}" max="{}" title="{}%"></progress> {}/{} ({}%)',
            current, total, percent, current, total, percent,
        )

    @admin.display(description="workflow", ordering="root_id")
    def workflow_root(self, obj: TaskResult) -> SafeString | str:
        if not obj.root_id:
            return "-"
        text = "root" if obj.root_id == obj.task_id else f"root {obj.root_id[:8]}…"
        url = reverse("admin:celery_compat_taskresult_changelist")
        return format_html('<a href="{}?root_id={}">{}</a>', url, obj.root_id, text)

    @admin.display(description="positional arguments")
    def args_display(self, obj: TaskResult) -> SafeString | str:
        return _pre(_pretty(_json_column(obj, obj.task_args)) if obj.task_args is not None else None)

    @admin.display(description="keyword arguments")
    def kwargs_display(self, obj: TaskResult) -> SafeString | str:
        return _pre(_pretty(_json_column(obj, obj.task_kwargs)) if obj.task_kwargs is not None else None)

    @admin.display(description="result")
    def result_display(self, obj: TaskResult) -> SafeString | str:
        return _pre(_pretty(_json_column(obj, obj.result)) if obj.result is not None else None)

    @admin.display(description="traceback")
    def traceback_display(self, obj: TaskResult) -> SafeString | str:
        return _pre(obj.traceback)

    @admin.display(description="meta")
    def meta_display(self, obj: TaskResult) -> SafeString | str:
        return _pre(_pretty(_json_column(obj, obj.meta)) if obj.meta is not None else None)

    @admin.display(description="log (last lines logged through get_task_logger)")
    def log_display(self, obj: TaskResult) -> SafeString | str:
        return _pre(obj.log)

    @admin.display(description="workflow")
    def workflow(self, obj: TaskResult) -> SafeString | str:
        links = {obj.parent_id, obj.root_id} - {None, obj.task_id}
        known = dict(TaskResult.objects.filter(task_id__in=links).values_list("task_id", "pk")) if links else {}

        def ref(task_id: str | None) -> str:
            if not task_id:
                return "-"
            if task_id == obj.task_id:
                return "this task"
            if task_id in known:
                return _link(known[task_id], task_id)
            return format_html("{} <small>(no stored result)</small>", task_id)

        parts = [format_html("<div>parent: {}</div>", mark_safe(ref(obj.parent_id))),
                 format_html("<div>root: {}</div>", mark_safe(ref(obj.root_id)))]
        descendants = list(
            TaskResult.objects.filter(root_id=obj.task_id).exclude(pk=obj.pk)
            .order_by("date_created", "pk")[:DESCENDANTS_SHOWN + 1]
        )
        if descendants:
            shown = descendants[:DESCENDANTS_SHOWN]
            rows = format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((mark_safe(_link(row.pk, row.task_id)), row.task_name or "-", row.status,
                  mark_safe(self.progress(row)), row.parent_id or "-") for row in shown),
            )
            more = (format_html("<p>… and more: <a href=\"{}?root_id={}\">all descendants</a></p>",
                                reverse("admin:celery_compat_taskresult_changelist"), obj.task_id)
                    if len(descendants) > DESCENDANTS_SHOWN else "")
            parts.append(format_html(
                '<table class="cc-descendants"><caption>descendants ({}{})</caption>'
                "<thead><tr><th>task id</th><th>task</th><th>state</th><th>progress</th><th>parent</th></tr>"
                "</thead><tbody>{}</tbody></table>{}",
                len(shown), "+" if more else "", rows, more,
            ))
        return mark_safe("".join(parts))

    @admin.action(description="Re-run selected failed tasks (same arguments, new task id)", permissions=["rerun"])
    def rerun(self, request: HttpRequest, queryset: QuerySet) -> None:
        from ._state import get_current_app

        app = get_current_app()
        for row in queryset:
            if row.status not in RERUNNABLE_STATES:
                self.message_user(request, f"Not re-run: {row.task_id} is {row.status}; only FAILURE and REVOKED "
                                           f"tasks are re-run.", messages.WARNING)
                continue
            try:
                args, kwargs = rerun_arguments(row)
            except ValueError as exc:
                self.message_user(request, f"Not re-run: {exc}", messages.ERROR)
                continue
            options = {"queue": row.queue} if row.queue else {}
            result = app.send_task(row.task_name, args=args, kwargs=kwargs, add_to_parent=False, **options)
            self.message_user(request, f"Re-ran {row.task_name} [{row.task_id}] as {result.id}.",
                              messages.SUCCESS)


@admin.register(GroupResult)
class GroupResultAdmin(ReadOnlyAdmin):
    list_display = ("group_id", "date_done")
    list_filter = ("date_done",)
    search_fields = ("group_id",)
    date_hierarchy = "date_done"
    fields = ("group_id", "date_created", "date_done", "content_type", "content_encoding", "result")
    readonly_fields = ("result", "date_created", "date_done")


@admin.register(Worker)
class WorkerAdmin(ReadOnlyAdmin):
    list_display = ("hostname", "status", "pid", "pool", "concurrency", "running", "processed", "heartbeat_at",
                    "started_at", "queues")
    search_fields = ("hostname", "queues")
    readonly_fields = ("hostname", "status", "pid", "pool", "concurrency", "queues", "processed", "started_at",
                       "heartbeat_at", "stopped_at", "running_tasks")
    fields = readonly_fields

    @admin.display(description="status")
    def status(self, obj: Worker) -> str:
        if obj.stopped_at is not None:
            return "stopped"
        return "online" if obj.is_online() else "offline (no heartbeat)"

    @admin.display(description="running tasks")
    def running(self, obj: Worker) -> int:
        return len(obj.active_tasks())

    @admin.display(description="running tasks")
    def running_tasks(self, obj: Worker) -> SafeString | str:
        tasks = obj.active_tasks()
        if not tasks:
            return "-"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((task.get("id"), task.get("name"), task.get("args"), task.get("kwargs"), task.get("worker_pid"))
             for task in tasks),
        )
        return format_html("<table><thead><tr><th>task id</th><th>task</th><th>args</th><th>kwargs</th>"
                           "<th>pid</th></tr></thead><tbody>{}</tbody></table>", rows)


@admin.register(Revoke)
class RevokeAdmin(ReadOnlyAdmin):
    list_display = ("task_id", "terminate", "signal", "created_at", "expires_at", "active")
    list_filter = ("terminate", "created_at")
    search_fields = ("task_id",)
    date_hierarchy = "created_at"

    @admin.display(description="active", boolean=True)
    def active(self, obj: Revoke) -> bool:
        return obj.expires_at is None or obj.expires_at > timezone.now()


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """The dashboard page at ``admin/celery_compat/dashboard/`` (a proxy model gives it its place)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return user.has_perm("celery_compat.view_dashboard") or user.has_perm("celery_compat.view_taskresult")

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [path("", self.admin_site.admin_view(self.changelist_view), name="celery_compat_dashboard_changelist")]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        from django.core.exceptions import PermissionDenied

        from .dashboard import dashboard_context

        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **dashboard_context(),
            "title": "Tasks dashboard",
            "opts": self.model._meta,
            "results_url": reverse("admin:celery_compat_taskresult_changelist"),
            "failures_url": reverse("admin:celery_compat_taskresult_changelist") + f"?status__exact={states.FAILURE}",
            "workers_url": reverse("admin:celery_compat_worker_changelist"),
            "messages_url": _admin_url("admin:django_kombu_message_changelist"),
            "periodic_url": _admin_url("admin:celery_compat_periodictask_changelist"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/celery_compat/dashboard.html", context)


def _admin_url(name: str) -> str | None:
    from django.urls import NoReverseMatch

    try:
        return reverse(name)
    except NoReverseMatch:
        return None


# Periodic tasks, schedules and beat runs (celery_compat.beat).
from .beat import admin as beat_admin  # noqa: E402,F401
