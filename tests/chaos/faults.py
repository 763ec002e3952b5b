"""Fault points for the chaos tests: a worker dies, or loses its leases, at an exact moment.

``CHAOS_FAULT`` (read by :mod:`tests.chaos.settings`) installs one in a
``runworker`` process by wrapping the consumer's ``on_start`` (the moment a
pool takes a request: revoke/expiry checks, then the early ack, whose
database write a prefork child makes just before the task) or that write,
the transport's ``StartTicket.start``:

- ``kill-after-accept``: for task ids starting with ``kill``, SIGKILL the
  worker's main process right after ``on_start`` accepted the request,
  before the pool child received the job (so before its early ack);
- ``kill-after-ack``: for task ids starting with ``kill``, SIGKILL the
  worker's main process and then the child, right after the child made the
  early ack and before the task ran;
- ``kill-after-ride``: for task ids starting with ``kill``, SIGKILL the
  worker's main process and then the child, right after the child marked
  the task started in the statement that stored the result of the task
  before it (:mod:`celery_compat.nextstart`, PostgreSQL), before it ran;
- ``give-back-before-start``: for task ids starting with ``give-back``, give
  every lease of the consumer's channel back (what the consumer's close does
  when its connection drops) just before ``on_start``, once per id: the
  race of a reconnect with a request being started.
"""

from __future__ import annotations

import os
import signal
from typing import Any

FAULTS = ("kill-after-accept", "kill-after-ack", "kill-after-ride", "give-back-before-start")


def install(fault: str) -> None:
    if fault not in FAULTS:
        raise ValueError(f"CHAOS_FAULT={fault!r} is not one of {FAULTS}")
    from celery_compat import signals

    def patch(sender: Any = None, **kwargs: Any) -> None:
        from celery_compat.worker.consumer import Consumer
        from kombu_transport_django.models import Message

        original = Consumer.on_start
        given_back: set[str] = set()

        def on_start(self: Consumer, request: Any, pid: int, *args: Any, **kwargs: Any) -> bool:
            if (
                fault == "give-back-before-start"
                and request.id.startswith("give-back")
                and request.id not in given_back
            ):
                given_back.add(request.id)
                request.message.channel.release_leases()
            started = original(self, request, pid, *args, **kwargs)
            if fault == "kill-after-accept" and started and request.id.startswith("kill"):
                os.kill(os.getpid(), signal.SIGKILL)
            return started

        Consumer.on_start = on_start  # type: ignore[method-assign]
        if fault == "kill-after-ack":
            from kombu_transport_django.leases import StartTicket

            worker_pid, ticket_start = os.getpid(), StartTicket.start

            def start(ticket: StartTicket) -> bool:
                started = ticket_start(ticket)
                if started and Message.objects.filter(id=ticket.row_id, task_id__startswith="kill").exists():
                    os.kill(worker_pid, signal.SIGKILL)
                    os.kill(os.getpid(), signal.SIGKILL)
                return started

            StartTicket.start = start  # type: ignore[method-assign]
        if fault == "kill-after-ride":
            from celery_compat import nextstart

            worker_pid, record = os.getpid(), nextstart.record

            def record_then_kill(ticket: Any, started: bool) -> None:
                record(ticket, started)
                if started and Message.objects.filter(id=ticket.row_id, task_id__startswith="kill").exists():
                    os.kill(worker_pid, signal.SIGKILL)
                    os.kill(os.getpid(), signal.SIGKILL)

            nextstart.record = record_then_kill  # type: ignore[assignment]

    signals.worker_init.connect(patch, weak=False)
