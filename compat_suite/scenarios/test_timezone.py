"""``app.timezone``: the ``timezone`` setting, else Django's ``TIME_ZONE``.

Django sets the process time zone (``TZ``) to ``TIME_ZONE`` when it loads
its settings, so Celery's "local zone" (``enable_utc=False``) is Django's
``TIME_ZONE`` in a Django process, and an app configured from Django's
settings reads ``TIME_ZONE`` itself. The one case that differs is an app
that never reads Django's settings: see the difference
``timezone-django-fallback``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from compat_suite.differences import deliberate

#: a summer instant: Europe/Berlin is UTC+2 then, Asia/Tokyo UTC+9
SUMMER = dt.datetime(2026, 7, 1, 12, tzinfo=dt.timezone.utc)


def offset_hours(app) -> float:
    """What a user sees of ``app.timezone``: the UTC offset it gives in summer."""
    return SUMMER.astimezone(app.timezone).utcoffset().total_seconds() / 3600


def fresh_app(impl, configured: bool, **conf):
    app = impl.celery.Celery("tz", set_as_current=False)
    if configured:
        app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(conf)
    return app


@pytest.mark.parametrize("enable_utc", [True, False])
def test_tz1_configured_app_uses_django_time_zone(impl, enable_utc):
    with override_settings(TIME_ZONE="Europe/Berlin"):
        app = fresh_app(impl, configured=True, enable_utc=enable_utc)
        impl.check(offset_hours(app), 2.0)


@pytest.mark.parametrize("enable_utc", [True, False])
def test_tz1_celery_timezone_wins_over_time_zone(impl, enable_utc):
    with override_settings(TIME_ZONE="Europe/Berlin", CELERY_TIMEZONE="Asia/Tokyo"):
        app = fresh_app(impl, configured=True, enable_utc=enable_utc)
        impl.check(offset_hours(app), 9.0)


def test_tz2_unconfigured_app_without_utc_uses_the_local_zone(impl):
    # Celery: the system's local zone, which Django set to TIME_ZONE.
    with override_settings(TIME_ZONE="Europe/Berlin"):
        app = fresh_app(impl, configured=False, enable_utc=False)
        impl.check(offset_hours(app), 2.0)


def test_tz2_unconfigured_app_with_utc(impl):
    with override_settings(TIME_ZONE="Europe/Berlin"):
        app = fresh_app(impl, configured=False)
        impl.check(offset_hours(app), deliberate("timezone-django-fallback", celery=0.0, celery_compat=2.0))
