"""A prefork child's next start mark, made by the statement that stores the result before it.

Run on every vendor (DATABASE_URL): on PostgreSQL the start rides on the
result's upsert (:mod:`celery_compat.nextstart`); elsewhere the result is
written alone and the ticket is left for the child to start on its own.
The worker-level test is in tests/worker/test_inprocess.py.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from kombu import Connection

from celery_compat import nextstart, states
from celery_compat.models import TaskResult
from kombu_transport_django import leases
from kombu_transport_django.models import Message

from .conftest import pytestmark  # noqa: F401  (transactional db for every test)
from .test_contract import get

RIDES = connection.vendor == "postgresql"


def _ticket(conn: Connection, publish: Any) -> leases.StartTicket:
    publish("q", {"n": 1})
    return conn.default_channel.qos.prepare_start(get(conn, "q").delivery_tag)


def _store(task_id: str, status: str = states.SUCCESS) -> None:
    TaskResult.objects.write_result({"task_id": task_id, "status": status, "result": "1"}, "default")


def test_the_final_success_write_starts_the_offered_ticket(conn: Connection, publish: Any) -> None:
    ticket = _ticket(conn, publish)
    with nextstart.offered("t1", lambda: ticket), nextstart.final_store("t1"):
        _store("t1")
    assert TaskResult.objects.get(task_id="t1").status == states.SUCCESS
    row = Message.objects.get()
    if RIDES:
        assert nextstart.outcome(ticket) is True
        assert (row.is_running, row.lease_owner) == (True, ticket.owner)
        assert ticket.unstart() is True  # what the worker does if the child dies before running it
        row = Message.objects.get()
        assert (row.status, row.is_running, row.lease_owner) == (Message.Status.LEASED, False, ticket.token)
    else:
        # Written alone: the child starts the ticket itself.
        assert nextstart.outcome(ticket) is None
        assert (row.status, row.is_running) == (Message.Status.LEASED, False)
        assert ticket.unstart() is False
        assert ticket.start() is True
    leases.RunningKeeper.forget(ticket.row_id)


def test_a_ticket_whose_lease_is_gone_is_not_started_and_the_result_is_stored(
    conn: Connection, publish: Any
) -> None:
    ticket = _ticket(conn, publish)
    conn.default_channel.release_leases()  # a reconnect gave the message back
    with nextstart.offered("t1", lambda: ticket), nextstart.final_store("t1"):
        _store("t1")
    assert TaskResult.objects.get(task_id="t1").status == states.SUCCESS
    assert nextstart.outcome(ticket) is (False if RIDES else None)
    assert Message.objects.get().status == Message.Status.READY
    leases.RunningKeeper.forget(ticket.row_id)


def test_only_the_running_tasks_final_success_takes_the_offer(conn: Connection, publish: Any) -> None:
    ticket = _ticket(conn, publish)
    asked = []

    def next_ticket() -> leases.StartTicket:
        asked.append(1)
        return ticket

    with nextstart.offered("t1", next_ticket):
        _store("t1")  # the body's own update_state(SUCCESS): not after the body returned
        _store("t1", states.STARTED)
        with nextstart.final_store("t1"):
            _store("t2")  # another task's result, written by this one
            _store("t1", states.FAILURE)
        assert asked == []
        with nextstart.final_store("t1"):
            _store("t1")
            _store("t1")  # at most once: a write retried after an error starts nothing
    assert asked == [1]
    assert nextstart.outcome(ticket) is (True if RIDES else None)
    assert nextstart.outcome(ticket) is None  # read once
    assert nextstart._offer is None and nextstart._storing is None
    leases.RunningKeeper.forget(ticket.row_id)
