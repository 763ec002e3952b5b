"""The periodic-task admin: its form's checks and its actions.

A task added in the admin firing on running workers: tests/beat/test_multi_worker.py.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from celery_compat.beat.models import BeatRun, ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask
from tests.beat.conftest import sent_messages

pytestmark = pytest.mark.django_db(transaction=True)

ADD_URL = "/admin/celery_compat/periodictask/add/"


@pytest.fixture
def admin_client_(client):
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def form(**fields):
    data = {"name": "t", "task": "tests.beat.proj.tasks.record", "enabled": "on", "args": "[]",
            "kwargs": "{}", "headers": "{}", "description": ""}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def errors(response) -> str:
    assert response.status_code == 200, response.status_code  # the form again, with errors
    errors = response.context["adminform"].form.errors
    return "\n".join(f"{field}: {message}" for field, messages in errors.items() for message in messages)


def test_form_refuses_bad_json_with_the_value_and_the_fix(admin_client_):
    interval = IntervalSchedule.objects.create(every=5, period="seconds")
    text = errors(admin_client_.post(ADD_URL, form(interval=interval.pk, args="[1, 2", kwargs='["x"]')))
    assert "'[1, 2' is not valid JSON" in text and 'expected a JSON list, e.g. [1, "two"]' in text
    assert "is a JSON list; expected a JSON object" in text
    assert not PeriodicTask.objects.exists()


def test_form_needs_exactly_one_schedule_and_one_off_for_clocked(admin_client_):
    interval = IntervalSchedule.objects.create(every=5, period="seconds")
    cron = CrontabSchedule.objects.create(minute="0", hour="4", timezone="Europe/Paris")
    clocked = ClockedSchedule.objects.create(clocked_time="2030-01-01T00:00:00Z")
    assert "Set exactly one schedule" in errors(admin_client_.post(ADD_URL, form()))
    text = errors(admin_client_.post(ADD_URL, form(interval=interval.pk, crontab=cron.pk)))
    assert "now set: interval, crontab" in text
    assert "tick One-off Task" in errors(admin_client_.post(ADD_URL, form(clocked=clocked.pk)))
    response = admin_client_.post(ADD_URL, form(clocked=clocked.pk, one_off="on"))
    assert response.status_code == 302


def test_crontab_form_refuses_celery_invalid_fields(admin_client_):
    url = "/admin/celery_compat/crontabschedule/add/"
    base = {"minute": "*", "hour": "*", "day_of_month": "*", "month_of_year": "*", "day_of_week": "*",
            "timezone": "UTC"}
    text = errors(admin_client_.post(url, dict(base, day_of_week="7", timezone="Mars/Olympus")))
    assert "day_of_week '7' is not a valid crontab field" in text
    assert "Mars/Olympus" in text
    text = errors(admin_client_.post(url, dict(base, day_of_month="30", month_of_year="2")))
    assert "never occurs in month_of_year" in text
    assert admin_client_.post(url, dict(base, minute="*/15", timezone="America/New_York")).status_code == 302


def test_actions_enable_disable_and_run_now(admin_client_, app):
    interval = IntervalSchedule.objects.create(every=1, period="hours")
    task = PeriodicTask.objects.create(name="hourly", task="proj.hourly", interval=interval, args='[7]',
                                       queue="reports")
    changelist = "/admin/celery_compat/periodictask/"
    admin_client_.post(changelist, {"action": "disable_tasks", "_selected_action": [task.pk]})
    assert PeriodicTask.objects.get().enabled is False
    admin_client_.post(changelist, {"action": "toggle_tasks", "_selected_action": [task.pk]})
    assert PeriodicTask.objects.get().enabled is True
    admin_client_.post(changelist, {"action": "run_tasks", "_selected_action": [task.pk]})
    [headers] = sent_messages()
    assert headers["task"] == "proj.hourly" and headers["periodic_task_name"] == "hourly"
    from kombu_transport_django.models import Message

    assert Message.objects.get().queue == "reports"
    assert not BeatRun.objects.exists()  # a manual run is not a scheduled run
