"""``publish_synchronous_commit=False``: a publish in autocommit commits without waiting for the disk.

PostgreSQL only, and only the publish's own statement: a deferred
constraint trigger reports the ``synchronous_commit`` in force when the
INSERT's transaction commits (a NOTICE), and the session's setting is
checked afterwards. Inside a transaction of the caller's nothing changes:
it would make the caller's whole transaction asynchronous.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from kombu import Connection, Producer

from kombu_transport_django.models import Message
from kombu_transport_django.options import TransportOptions

from tests.helpers.pg_triggers import synchronous_commit_seen

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)

POSTGRES = connection.vendor == "postgresql"


def test_the_option_is_checked() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"publish_synchronous_commit=0.*True.*or False"):
        TransportOptions.from_transport_options({"publish_synchronous_commit": 0})
    assert TransportOptions().publish_synchronous_commit is True


@pytest.fixture
def at_commit() -> Iterator[list[str]]:
    """The ``synchronous_commit`` in force at the commit of each INSERT of a message row."""
    if not POSTGRES:
        pytest.skip("PostgreSQL's synchronous_commit")
    with synchronous_commit_seen("AFTER INSERT", deferred=True) as notices:
        yield notices


@pytest.fixture
def send(connection_factory: Callable[..., Connection]) -> Callable[..., None]:
    def publish(**transport_options: Any) -> None:
        conn = connection_factory(**transport_options)
        Producer(conn.default_channel).publish({"n": 1}, exchange="", routing_key="q")

    return publish


def _session_setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_by_default_a_publish_commits_durably(send: Callable[..., None], at_commit: list[str]) -> None:
    send()
    assert at_commit == ["on"]


def test_with_the_option_it_commits_without_waiting_and_leaves_the_session_durable(
    send: Callable[..., None], at_commit: list[str]
) -> None:
    send(publish_synchronous_commit=False)
    assert at_commit == ["off"]
    assert Message.objects.filter(queue="q").count() == 1
    assert _session_setting() == "on"  # the next statement of this connection is durable again


@pytest.mark.parametrize("defer", [True, False])
def test_never_inside_the_callers_transaction(send: Callable[..., None], at_commit: list[str], defer: bool) -> None:
    with transaction.atomic():
        send(publish_synchronous_commit=False, defer_in_transaction=defer)
        send(publish_synchronous_commit=False, defer_in_transaction=defer)
    assert at_commit == ["on", "on"]
