"""The periodic-task admin forms under random input: never a server error, a bad field named.

Property-based (hypothesis), through the real admin views (Django's test
client as a logged-in superuser): random crontab fields and time zones on
the crontab form; random names, task names, args/kwargs/headers (JSON of any
shape, broken JSON, any text, NUL bytes), priorities and expiry on the
periodic-task form. Each post either saves (a redirect) or shows the form
again with errors, each on a field of the form; any exception (a 500) fails
the test. A periodic task the form saved must be one the beat can send
(``entry_from_row`` accepts it), and a crontab it saved one Celery's
``crontab`` parses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from celery_compat.beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from tests.fuzz.messages import json_values

pytestmark = pytest.mark.django_db

settings.load_profile("fuzz")
fixtures_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

CRON_URL = "/admin/celery_compat/crontabschedule/add/"
TASK_URL = "/admin/celery_compat/periodictask/add/"
CRON_FIELDS = ["minute", "hour", "day_of_month", "month_of_year", "day_of_week"]

#: any text, NUL and surrogate-free controls included (what a browser can post)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
cron_text = st.one_of(st.text(alphabet="0123456789*/-,abcdefghijklmnopqrstuvwxyz ", max_size=12), any_text,
                      st.sampled_from(["*", "0", "*/15", "1-5", "mon-fri", "jan", "L", "60", "-1", "*/0"]))
time_zones = st.one_of(st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]), any_text)
json_text = st.one_of(
    json_values.map(json.dumps),
    st.lists(json_values, max_size=3).map(json.dumps),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3).map(json.dumps),
    any_text,
    st.sampled_from(["", "[1, 2", "{'a': 1}", "null", "NaN", "[1e999]", '{"a": 1, "a": 2}', "\x00"]),
)


@pytest.fixture
def admin_client_(client: Any) -> Any:
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def outcome(response: Any) -> dict[str, list[str]]:
    """{} if saved (a redirect), else the form's errors by field: a 500 raised in the client already."""
    if response.status_code == 302:
        event("saved")
        return {}
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    errors = {field: list(messages) for field, messages in form.errors.items()}
    assert errors, "the form was shown again without an error"
    # Each error is on a field of the form (or on the form as a whole,
    # then naming a field).
    for field, messages in errors.items():
        if field == "__all__":
            assert any(name in " ".join(messages) for name in form.fields), messages
        else:
            assert field in form.fields, (field, messages)
        assert all(message.strip() for message in messages), errors
    event("errors on " + ", ".join(sorted(errors)))
    return errors


VALID_CRON = {"minute": ["*", "0", "*/15", "0,30", "5-10"], "hour": ["*", "4", "8-18/2"],
              "day_of_month": ["*", "1", "1,15", "29"], "month_of_year": ["*", "1", "2", "1-6"],
              "day_of_week": ["*", "0", "mon-fri", "1,3,5"]}


@st.composite
def cron_forms(draw: Any) -> dict[str, str]:
    """A valid crontab, with none, one or a few of its fields replaced by random text."""
    fields = {name: draw(st.sampled_from(values)) for name, values in VALID_CRON.items()}
    fields["timezone"] = draw(st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]))
    for name in draw(st.sets(st.sampled_from([*CRON_FIELDS, "timezone"]), max_size=3)):
        fields[name] = draw(time_zones if name == "timezone" else cron_text)
    return fields


@fixtures_ok
@given(fields=cron_forms())
def test_the_crontab_form_saves_or_names_the_bad_field(admin_client_: Any, fields: dict[str, str]) -> None:
    CrontabSchedule.objects.all().delete()
    errors = outcome(admin_client_.post(CRON_URL, fields))
    if not errors:
        from celery_compat.schedules import crontab

        saved = CrontabSchedule.objects.get()
        crontab(**{name: getattr(saved, name) for name in CRON_FIELDS})  # Celery's parser takes it


JUNK = {
    "name": any_text, "task": any_text, "args": json_text, "kwargs": json_text, "headers": json_text,
    "priority": st.one_of(st.integers(-5, 300).map(str), any_text),
    "expire_seconds": st.one_of(st.integers(-5, 10**12).map(str), any_text),
    "queue": any_text, "routing_key": any_text, "exchange": any_text,
    "start_time_0": any_text, "expires_0": any_text, "one_off": st.sampled_from(["on", ""]),
}


@st.composite
def task_forms(draw: Any) -> dict[str, str]:
    """A valid periodic task, with none, one or a few of its fields replaced by random input."""
    data = {"name": "nightly", "task": "proj.tasks.add", "enabled": "on", "description": "",
            "args": draw(st.lists(json_values, max_size=3).map(json.dumps)),
            "kwargs": draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3).map(json.dumps)),
            "headers": "{}", "priority": "", "expire_seconds": "", "queue": ""}
    for name in draw(st.sets(st.sampled_from(sorted(JUNK)), max_size=3)):
        data[name] = draw(JUNK[name])
    return data


@fixtures_ok
@given(data=task_forms(), schedule=st.sampled_from(["interval", "interval", "crontab", "both", "none"]))
def test_the_periodic_task_form_saves_or_names_the_bad_field(admin_client_: Any, data: dict[str, str],
                                                             schedule: str) -> None:
    PeriodicTask.objects.all().delete()
    interval = IntervalSchedule.objects.get_or_create(every=5, period="seconds")[0]
    cron = CrontabSchedule.objects.get_or_create(minute="0", hour="4", timezone="UTC")[0]
    data = dict(data)
    if schedule in ("interval", "both"):
        data["interval"] = str(interval.pk)
    if schedule in ("crontab", "both"):
        data["crontab"] = str(cron.pk)
    errors = outcome(admin_client_.post(TASK_URL, data))
    if not errors:
        from celery_compat.beat.entries import entry_from_row

        entry_from_row(PeriodicTask.objects.get())  # the beat can send what the form saved
