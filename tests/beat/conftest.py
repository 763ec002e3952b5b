"""Fixtures of the beat tests: an app on the test database and a controllable clock."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest

from celery_compat import Celery, _state

UTC = dt.timezone.utc


class Clock:
    """A settable ``now()`` for schedulers under test."""

    def __init__(self, start: dt.datetime) -> None:
        self.current = start

    def __call__(self) -> dt.datetime:
        return self.current

    def set(self, value: dt.datetime) -> None:
        self.current = value.astimezone(UTC)

    def advance(self, **delta: float) -> dt.datetime:
        self.current += dt.timedelta(**delta)
        return self.current


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC))


@pytest.fixture
def app() -> Iterator[Celery]:
    """A celery_compat app on the test database (tasks need not be registered: send_task is used)."""
    previous = getattr(_state._tls, "current_app", None)
    app = Celery("tests.beat")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.finalize()
    yield app
    app.close()
    _state._tls.current_app = previous


def sent_messages(**filters: Any) -> list[dict[str, Any]]:
    """The task messages waiting in the transport: their headers (task, id, periodic_task_name...)."""
    import json

    from kombu_transport_django.models import Message

    out = []
    for payload in Message.objects.filter(**filters).order_by("id").values_list("payload", flat=True):
        message = json.loads(payload)
        out.append(message["headers"])
    return out
