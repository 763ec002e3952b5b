"""The results admin lists, filters and searches, and never edits."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from celery_compat.context import Context
from celery_compat.models import GroupResult, TaskResult
from celery_compat.result import AsyncResult
from celery_compat.result import GroupResult as GroupResultHandle

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(app_factory: Any) -> None:
    app = app_factory(result_extended=True)
    app.backend.mark_as_done("t-1", 3, request=Context(id="t-1", task="shop.tasks.add", argsrepr="(1, 2)",
                                                      hostname="celery@w1"))
    app.backend.mark_as_failure("t-2", ValueError("x"), traceback="Traceback ...")
    GroupResultHandle("g-1", [AsyncResult("t-1", app=app)], app=app).save()


@pytest.mark.parametrize(
    ("model", "params", "expected"),
    [
        (TaskResult, {}, b"shop.tasks.add"),
        (TaskResult, {"status__exact": "FAILURE"}, b"t-2"),
        (TaskResult, {"q": "shop.tasks"}, b"t-1"),
        (GroupResult, {}, b"g-1"),
    ],
)
def test_changelists_render(admin_client: Any, stored: None, model: Any, params: dict[str, str],
                            expected: bytes) -> None:
    response = admin_client.get(reverse(f"admin:celery_compat_{model._meta.model_name}_changelist"), params)

    assert response.status_code == 200
    assert expected in response.content


def test_results_are_read_only(admin_client: Any, stored: None) -> None:
    pk = TaskResult.objects.get(task_id="t-1").pk

    assert admin_client.get(reverse("admin:celery_compat_taskresult_add")).status_code == 403
    view = admin_client.get(reverse("admin:celery_compat_taskresult_change", args=[pk]))
    assert view.status_code == 200 and b"shop.tasks.add" in view.content
    admin_client.post(reverse("admin:celery_compat_taskresult_change", args=[pk]), {"status": "PENDING"})
    assert TaskResult.objects.get(pk=pk).status == "SUCCESS"
