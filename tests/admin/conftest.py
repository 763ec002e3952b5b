"""Fixtures of the admin tests: an app on the test database with extended results, and staff users."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from celery_compat import Celery
from tests.helpers.fixtures import app_fixture

app = app_fixture("tests.admin", "tests.admin.tasks", set_current=True)


@pytest.fixture(autouse=True)
def extended_results(app: Celery) -> Iterator[Celery]:
    """Results keep task names and arguments (the re-run action needs them)."""
    app.conf.result_extended = True
    yield app


@pytest.fixture
def staff_client(django_user_model: Any) -> Callable[..., Client]:
    """``staff_client("app.codename", ...)``: a logged-in staff user holding only those permissions."""
    made = 0

    def make(*perms: str) -> Client:
        nonlocal made
        made += 1
        user = django_user_model.objects.create_user(f"staff{made}", password="pw", is_staff=True)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client = Client()
        client.force_login(user)
        return client

    return make
