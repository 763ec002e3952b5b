"""``synchronous_commit=False``: a start mark (and a result riding with it) commits asynchronously.

PostgreSQL only, and only in the statement's own transaction: a row trigger
reports the ``synchronous_commit`` in force while the start's UPDATE runs
(a NOTICE), and the session's setting is checked afterwards. Elsewhere the
option changes no statement.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from kombu import Connection

from celery_compat import nextstart, states
from celery_compat.models import TaskResult
from kombu_transport_django import leases
from kombu_transport_django.models import Message
from kombu_transport_django.options import TransportOptions

from tests.helpers.pg_triggers import synchronous_commit_seen

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)
from .test_contract import get

POSTGRES = connection.vendor == "postgresql"
ASYNC = "set_config('synchronous_commit'"


@pytest.fixture
def ticket_for(
    connection_factory: Callable[..., Connection], publish: Callable[..., None]
) -> Callable[..., leases.StartTicket]:
    """A start ticket for one fresh message, taken by a connection with ``transport_options``."""

    def make(**transport_options: Any) -> leases.StartTicket:
        conn = connection_factory(**transport_options)
        publish("q", {"n": 1})  # the ticket carries the consuming connection's options
        ticket = conn.default_channel.qos.prepare_start(get(conn, "q").delivery_tag)
        leases.RunningKeeper.forget(ticket.row_id)  # nothing renews or deletes it behind the test
        return ticket

    return make


@pytest.fixture
def seen() -> Iterator[list[str]]:
    """PostgreSQL: the ``synchronous_commit`` in force at each UPDATE of a message row."""
    with synchronous_commit_seen("BEFORE UPDATE") as notices:
        yield notices


def _session_setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_the_option_is_checked() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"synchronous_commit='off'.*True.*or False"):
        TransportOptions.from_transport_options({"synchronous_commit": "off"})
    assert TransportOptions().synchronous_commit is True


def test_tickets_carry_the_option(ticket_for: Callable[..., leases.StartTicket]) -> None:
    assert ticket_for().asynchronous is False
    asynchronous = ticket_for(synchronous_commit=False)
    assert asynchronous.asynchronous is True
    # Pickled for the prefork child: the flag goes with it.
    import pickle

    assert pickle.loads(pickle.dumps(asynchronous)) == asynchronous


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's synchronous_commit; elsewhere see the next test")
def test_an_asynchronous_start_commits_without_waiting_and_leaves_the_session_durable(
    ticket_for: Callable[..., leases.StartTicket], seen: list[str]
) -> None:
    durable = ticket_for()
    seen.clear()  # the claim's UPDATE
    assert durable.start() is True
    assert seen == ["on"]
    asynchronous = ticket_for(synchronous_commit=False)
    seen.clear()
    assert asynchronous.start() is True
    assert seen == ["off"]
    assert Message.objects.get(id=asynchronous.row_id).is_running
    # Set for that statement's transaction only: the task's own writes,
    # next on this connection, commit durably.
    assert _session_setting() == "on"


@pytest.mark.skipif(not POSTGRES, reason="the result rides with the start on PostgreSQL only")
def test_a_result_riding_with_an_asynchronous_start_shares_its_commit(
    ticket_for: Callable[..., leases.StartTicket], seen: list[str]
) -> None:
    ticket = ticket_for(synchronous_commit=False)
    seen.clear()  # the claim's UPDATE
    with nextstart.offered("t1", lambda: ticket), nextstart.final_store("t1"):
        TaskResult.objects.write_result({"task_id": "t1", "status": states.SUCCESS, "result": "1"}, "default")
    assert nextstart.outcome(ticket) is True
    assert seen == ["off"]
    assert TaskResult.objects.get(task_id="t1").status == states.SUCCESS
    assert _session_setting() == "on"


def test_never_inside_the_callers_transaction_nor_on_other_databases(
    ticket_for: Callable[..., leases.StartTicket]
) -> None:
    ticket = ticket_for(synchronous_commit=False)
    sql, _ = ticket.statement()
    assert (ASYNC in sql) is POSTGRES
    with transaction.atomic():
        # It would make the whole transaction asynchronous, the caller's
        # writes with it.
        sql, _ = ticket.statement()
        assert ASYNC not in sql
        assert ticket.start() is True
