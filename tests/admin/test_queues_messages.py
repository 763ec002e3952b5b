"""Queues and messages in the admin: depth counts, filters, payload, actions and their permissions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from celery_compat import Celery, states
from celery_compat.models import Revoke, TaskResult
from kombu_transport_django.admin import decode_payload, queue_depths
from kombu_transport_django.models import Message, Queue
from tests.admin.tasks import add, fails

pytestmark = pytest.mark.django_db

QUEUES_URL = reverse("admin:django_kombu_queue_changelist")
MESSAGES_URL = reverse("admin:django_kombu_message_changelist")


def _publish(app: Celery, queue: str, count: int, **options: Any) -> list[str]:
    return [add.apply_async((n, n), queue=queue, **options).id for n in range(count)]


def _mixed_queue(app: Celery, queue: str) -> dict[str, int]:
    """Publish into ``queue``: 3 ready, 2 scheduled, 1 leased, 1 dead; return those counts."""
    ids = _publish(app, queue, 5) + _publish(app, queue, 2, countdown=3600)
    Message.objects.filter(task_id=ids[0]).update(status=Message.Status.LEASED, lease_owner="x",
                                                  leased_until=timezone.now() + dt.timedelta(seconds=30))
    Message.objects.filter(task_id=ids[1]).update(status=Message.Status.DEAD, dead_reason="poison")
    return {"ready": 3, "scheduled": 2, "leased": 1, "dead": 1}


def _row_counts(html: str, name: str) -> list[str]:
    """The cells of the queue named ``name`` in the queue changelist."""
    import re

    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*?>" + re.escape(name) + r"</a>(?:(?!</tr>).)*</tr>", html, re.S)
    assert row, f"no row for queue {name}"
    return re.findall(r'<td class="field-(ready|scheduled|leased|dead)">(\d+)</td>', row.group(0))


def test_queue_list_counts_ready_scheduled_leased_dead_in_one_statement(app: Celery, admin_client: Any) -> None:
    expected = {name: _mixed_queue(app, name) for name in ("q-alpha", "q-beta")}
    Queue.objects.get(name="q-beta")  # declared by publishing

    with CaptureQueriesContext(connection) as few:
        response = admin_client.get(QUEUES_URL)
    assert response.status_code == 200
    html = response.content.decode()
    for name, counts in expected.items():
        assert dict(_row_counts(html, name)) == {key: str(value) for key, value in counts.items()}
    assert queue_depths()["q-alpha"] == expected["q-alpha"]

    # Three more queues: the same number of statements (no query per row).
    for name in ("q-gamma", "q-delta", "q-epsilon"):
        _mixed_queue(app, name)
    with CaptureQueriesContext(connection) as more:
        assert admin_client.get(QUEUES_URL).status_code == 200
    assert len(more.captured_queries) == len(few.captured_queries)


def test_message_filters_by_state_and_task_name(app: Celery, admin_client: Any) -> None:
    _mixed_queue(app, "q-filter")
    failing = fails.apply_async((1,), queue="q-filter").id

    def listed(query: str) -> int:
        response = admin_client.get(f"{MESSAGES_URL}?{query}")
        assert response.status_code == 200
        return response.context["cl"].result_count

    assert listed("state=pending") == 4  # 3 ready adds + the failing one
    assert listed("state=future") == 2
    assert listed("state=running") == 1
    assert listed("state=dead") == 1
    assert listed(f"task={fails.name}") == 1
    assert listed(f"task={add.name}&state=pending") == 3
    assert listed("queue=q-filter") == 8
    page = admin_client.get(MESSAGES_URL).content.decode()
    assert fails.name in page and failing in page


def test_message_page_shows_the_decoded_payload(app: Celery, admin_client: Any) -> None:
    task_id = add.apply_async((20, 22), queue="q-payload").id
    message = Message.objects.get(task_id=task_id)

    html = admin_client.get(reverse("admin:django_kombu_message_change", args=[message.pk])).content.decode()

    # The body is shown as data (kombu base64-encodes it in the row), with the Celery headers.
    body = decode_payload(message.payload)["body"]
    assert body[0] == [20, 22] and body[1] == {}
    assert json.dumps(body, indent=2, sort_keys=True).replace('"', "&quot;").replace("\n", "\n  ") in html
    assert f"&quot;task&quot;: &quot;{add.name}&quot;" in html
    assert f"&quot;id&quot;: &quot;{task_id}&quot;" in html


def _action(client: Any, url: str, action: str, pks: list[Any]) -> Any:
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)


def test_requeue_makes_a_dead_message_ready_again_and_needs_change_permission(
    app: Celery, staff_client: Any
) -> None:
    task_id = add.apply_async((1, 2), queue="q-dead").id
    Message.objects.filter(task_id=task_id).update(status=Message.Status.DEAD, dead_reason="poison",
                                                   delivery_count=10)
    dead = Message.objects.get(task_id=task_id)

    viewer = staff_client("django_kombu.view_message")
    response = _action(viewer, MESSAGES_URL, "requeue", [dead.pk])
    assert response.status_code == 200
    assert Message.objects.get(pk=dead.pk).status == Message.Status.DEAD  # refused

    editor = staff_client("django_kombu.view_message", "django_kombu.change_message")
    response = _action(editor, MESSAGES_URL, "requeue", [dead.pk])
    assert "Requeued 1 dead message(s)." in response.content.decode()
    requeued = Message.objects.get(pk=dead.pk)
    assert (requeued.status, requeued.delivery_count, requeued.dead_reason) == (Message.Status.READY, 0, "")
    assert requeued.available_at <= timezone.now()


def test_revoke_action_persists_revoke_rows_and_needs_add_revoke(app: Celery, staff_client: Any) -> None:
    task_id = add.apply_async((1, 2), queue="q-revoke").id
    message = Message.objects.get(task_id=task_id)

    viewer = staff_client("django_kombu.view_message", "django_kombu.change_message")
    _action(viewer, MESSAGES_URL, "revoke", [message.pk])
    assert not Revoke.objects.filter(task_id=task_id).exists()

    revoker = staff_client("django_kombu.view_message", "celery_compat.add_revoke")
    response = _action(revoker, MESSAGES_URL, "revoke", [message.pk])
    assert "Revoked 1 task(s)" in response.content.decode()
    assert Revoke.objects.filter(task_id=task_id).exists()
    assert TaskResult.objects.get(task_id=task_id).status == states.REVOKED


def test_delete_action_needs_delete_permission(app: Celery, staff_client: Any) -> None:
    message = Message.objects.get(task_id=add.apply_async((1, 2), queue="q-delete").id)

    viewer = staff_client("django_kombu.view_message", "django_kombu.change_message")
    _action(viewer, MESSAGES_URL, "delete_selected", [message.pk])
    assert Message.objects.filter(pk=message.pk).exists()

    deleter = staff_client("django_kombu.view_message", "django_kombu.delete_message")
    response = deleter.post(MESSAGES_URL, {"action": "delete_selected", "_selected_action": [str(message.pk)],
                                           "post": "yes"}, follow=True)
    assert response.status_code == 200
    assert not Message.objects.filter(pk=message.pk).exists()
