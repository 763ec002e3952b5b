"""Pure functions: transport options, ETA parsing, DATABASE_URL parsing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from kombu_transport_django.options import TransportOptions
from kombu_transport_django.transport import _parse_eta, _row_id
from tests.dburl import parse


def test_defaults_are_the_documented_ones() -> None:
    opts = TransportOptions()
    assert (opts.database, opts.lease_seconds, opts.heartbeat_interval) == ("default", 30.0, 5.0)
    assert (opts.max_redeliveries, opts.max_batch, opts.honor_eta) == (10, 100, True)


@pytest.mark.parametrize("name", ["lease_seconds", "heartbeat_interval", "max_batch", "min_polling_interval"])
@pytest.mark.parametrize("value", [0, -1, "5", True])
def test_non_positive_or_non_numeric_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"{name}={value!r} is invalid"):
        TransportOptions.from_transport_options({name: value})


def test_none_disables_the_optional_limits() -> None:
    opts = TransportOptions.from_transport_options({"max_redeliveries": None, "max_payload_bytes": None})
    assert opts.max_redeliveries is None and opts.max_payload_bytes is None


def test_eta_with_offset_becomes_utc() -> None:
    eta = _parse_eta("2026-11-21T21:03:38.223390-06:00")
    assert eta == dt.datetime(2026, 11, 22, 3, 3, 38, 223390, tzinfo=dt.timezone.utc)


@override_settings(TIME_ZONE="Europe/Paris")
def test_naive_eta_is_local_time() -> None:
    eta = _parse_eta("2026-07-01T12:00:00")
    assert eta == dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("value", [None, "", "tomorrow", 12345])
def test_missing_or_bad_eta_means_no_delay(value: object) -> None:
    assert _parse_eta(value) is None


def test_delivery_tag_carries_the_row_id() -> None:
    assert _row_id("42.3") == 42


def test_database_urls() -> None:
    base = Path("/srv")
    sqlite = parse("sqlite:///var/t.sqlite3", base)
    assert sqlite["NAME"] == "/srv/var/t.sqlite3" and sqlite["TEST"]["NAME"] == "/srv/var/test_t.sqlite3"
    pg = parse("postgres://u:p@h:5433/db", base)
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PORT"]) == ("django.db.backends.postgresql", "db", "u", "5433")
    assert parse("mysql://root@127.0.0.1:3306/test", base)["ENGINE"] == "django.db.backends.mysql"
    with pytest.raises(ValueError, match="'oracle' is not supported"):
        parse("oracle://x/y", base)
