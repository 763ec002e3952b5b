"""The Beat service: waits for its tables instead of dying, stops when asked."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import connection

from celery_compat.beat.models import BeatEntryState
from celery_compat.beat.service import Beat

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_text(caplog, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in caplog.text:
        assert time.monotonic() < deadline, f"{text!r} not logged in {timeout}s:\n{caplog.text}"
        time.sleep(0.05)


def test_beat_waits_for_its_tables_then_starts(app, caplog):
    caplog.set_level(logging.INFO, logger="celery.beat")
    app.conf.beat_schedule = {"every": {"task": "proj.t", "schedule": 1.0}}
    with connection.schema_editor() as editor:
        editor.delete_model(BeatEntryState)
    beat = Beat(app, hostname="svc")
    try:
        beat.start_embedded()
        wait_for_text(caplog, "cannot read the schedule tables")
        assert "`manage.py migrate celery_compat` done?" in caplog.text
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(BeatEntryState)
    try:
        wait_for_text(caplog, "beat: starting (svc)")
        assert beat.thread is not None and beat.thread.is_alive()
    finally:
        beat.stop()
        beat.join(30)
    assert beat.thread is not None and not beat.thread.is_alive()
    assert "beat: stopped" in caplog.text
