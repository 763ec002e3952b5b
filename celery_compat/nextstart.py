"""A prefork child's next start mark, written by the statement that stores the result before it.

A busy prefork child is sent its next job before its current one ends
(docs/worker.md, Pools). Each job's start mark (the early ack: an UPDATE of
its message row, committed before the task body runs) was a durable commit
of its own, right after the durable commit of the previous task's result.
On PostgreSQL the child now makes both in one statement, the result's upsert
with the start UPDATE as a data-modifying ``WITH``: one commit and one round
trip instead of two (``python -m bench.cpu_split``: docs/benchmarks.md).

The child offers the next job's ticket while a task runs (:func:`offered`);
the tracer marks the one write that may take it, the task's own ``SUCCESS``
after its body returned (:func:`final_store`); the result write takes it
(:func:`take`) and records whether the row was started (:func:`record`);
the child then runs that job without another UPDATE (:func:`outcome`). A
job whose start was made this way is run by the child whatever comes
meanwhile (a stop, a cancel), as a job started the usual way is.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

#: the running task's id and the callable giving the next job's start ticket (or None)
_offer: tuple[str, Callable[[], Any]] | None = None
#: the task id whose final SUCCESS is being stored now (set by the tracer)
_storing: str | None = None
#: row id -> whether the ride's UPDATE started it; popped by :func:`outcome`
_outcomes: dict[int, bool] = {}


@contextmanager
def offered(task_id: str, next_ticket: Callable[[], Any]) -> Iterator[None]:
    """While ``task_id`` runs, its final result write may start the ticket ``next_ticket()`` gives."""
    global _offer
    _offer = (task_id, next_ticket)
    try:
        yield
    finally:
        _offer = None


@contextmanager
def final_store(task_id: str) -> Iterator[None]:
    """The tracer stores ``task_id``'s ``SUCCESS`` after its body returned: the only write that may take the offer."""
    global _storing
    if _offer is None:  # not in a prefork child's run: nothing to mark
        yield
        return
    _storing = task_id
    try:
        yield
    finally:
        _storing = None


def take(task_id: str, using: str) -> Any | None:
    """The start ticket to make with ``task_id``'s result write on database ``using``, at most once; else None."""
    global _offer
    offer = _offer
    if offer is None or offer[0] != task_id or _storing != task_id:
        return None
    _offer = None  # one try: a retried write (after an error) starts nothing
    ticket = offer[1]()
    if ticket is None or ticket.database != using:
        return None
    return ticket


def record(ticket: Any, started: bool) -> None:
    """The write that took ``ticket`` committed: its row was started (or its lease was gone)."""
    _outcomes[ticket.row_id] = started


def rode(ticket: Any) -> bool:
    """Whether ``ticket``'s start was already made by a result write."""
    return ticket is not None and ticket.row_id in _outcomes


def outcome(ticket: Any) -> bool | None:
    """Whether a result write started ``ticket`` (None: it did not try); forgotten once read."""
    return _outcomes.pop(ticket.row_id, None)
