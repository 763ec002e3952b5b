"""Registration, Celery's view of the transport, options and vendor checks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection
from kombu import Connection
from kombu.transport import TRANSPORT_ALIASES, resolve_transport

from kombu_transport_django.claim import check_supported
from kombu_transport_django.options import TransportOptions
from kombu_transport_django.transport import Transport


def test_django_alias_resolves_to_the_transport() -> None:
    assert TRANSPORT_ALIASES["django"] == "kombu_transport_django.transport:Transport"
    assert resolve_transport("django") is Transport


def test_app_ready_registers_the_alias_again() -> None:
    from django.apps import apps

    TRANSPORT_ALIASES.pop("django")
    apps.get_app_config("django_kombu").ready()

    assert resolve_transport("django") is Transport


def test_real_celery_app_uses_the_transport() -> None:
    from celery import Celery

    app = Celery("t", broker="django://", set_as_current=False)
    with app.connection_for_write() as conn:
        transport = conn.transport

    assert isinstance(transport, Transport)
    # What Celery switches on: remote control needs fanout; 'sql' keeps the
    # event dispatcher, mingle and gossip off.
    assert "fanout" in transport.implements.exchange_type
    assert transport.driver_type == "sql"
    assert OperationalError in transport.connection_errors


def test_unknown_transport_options_are_ignored_and_bad_values_named() -> None:
    assert TransportOptions.from_transport_options({"visibility_timeout": 1}).lease_seconds == 30

    with pytest.raises(ImproperlyConfigured, match=r"lease_seconds=-1 is invalid"):
        TransportOptions.from_transport_options({"lease_seconds": -1})
    with pytest.raises(ImproperlyConfigured, match="at least twice heartbeat_interval"):
        TransportOptions.from_transport_options({"lease_seconds": 4, "heartbeat_interval": 3})


def test_bad_option_fails_at_connection_not_at_import() -> None:
    conn = Connection("django://", transport_options={"max_batch": 0})
    with pytest.raises(ImproperlyConfigured, match="max_batch=0"):
        conn.transport


def test_database_without_skip_locked_is_refused_with_the_versions_needed() -> None:
    # MariaDB < 10.6 cannot be had here; this stands in for its connection.
    old_mariadb = SimpleNamespace(
        vendor="mysql",
        alias="default",
        display_name="MariaDB",
        mysql_version=(10, 5, 2),
        features=SimpleNamespace(has_select_for_update_skip_locked=False),
    )

    with pytest.raises(ImproperlyConfigured) as excinfo:
        check_supported(old_mariadb)  # type: ignore[arg-type]

    message = str(excinfo.value)
    assert "MariaDB 10.5.2" in message
    assert "MariaDB >= 10.6" in message and "MySQL >= 8.0.1" in message


@pytest.mark.django_db
def test_this_database_is_supported() -> None:
    check_supported(connection)
