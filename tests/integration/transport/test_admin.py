"""The admin shows the queue tables, dead messages with their reason included."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from kombu_transport_django.models import Binding, Consumer, Message, Queue


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Queue, Message, Binding, Consumer])
def test_changelists_render(admin_client: Any, model: Any) -> None:
    now = timezone.now()
    Queue.objects.create(name="q", last_seen_at=now)
    Message.objects.create(
        queue="q", payload="{}", available_at=now, created_at=now,
        status=Message.Status.DEAD, dead_reason="content type 'x' is not accepted", task_name="shop.tasks.t",
    )
    Binding.objects.create(exchange="celery.pidbox", queue="q")
    Consumer.objects.create(token="t", hostname="h", pid=1, started_at=now, heartbeat_at=now)

    url = reverse(f"admin:django_kombu_{model._meta.model_name}_changelist")
    response = admin_client.get(url, {"status__exact": "2"} if model is Message else {})

    assert response.status_code == 200
    if model is Message:
        assert b"shop.tasks.t" in response.content
