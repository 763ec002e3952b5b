"""Fault points for the chaos tests: a worker dies, or loses its leases, at an exact moment.

``CHAOS_FAULT`` (read by :mod:`tests.chaos.settings`) installs one in a
``runworker`` process by wrapping the consumer's ``on_start`` (the moment a
pool takes a request: revoke/expiry checks, then the early ack):

- ``kill-after-ack``: for task ids starting with ``kill``, SIGKILL the
  worker's main process right after ``on_start`` accepted the request, that
  is after the early ack and before the pool child received the job;
- ``give-back-before-start``: for task ids starting with ``give-back``, give
  every lease of the consumer's channel back (what the consumer's close does
  when its connection drops) just before ``on_start``, once per id: the
  race of a reconnect with a request being started.
"""

from __future__ import annotations

import os
import signal
from typing import Any

FAULTS = ("kill-after-ack", "give-back-before-start")


def install(fault: str) -> None:
    if fault not in FAULTS:
        raise ValueError(f"CHAOS_FAULT={fault!r} is not one of {FAULTS}")
    from celery_compat import signals

    def patch(sender: Any = None, **kwargs: Any) -> None:
        from celery_compat.worker.consumer import Consumer

        original = Consumer.on_start
        given_back: set[str] = set()

        def on_start(self: Consumer, request: Any, pid: int) -> bool:
            if (
                fault == "give-back-before-start"
                and request.id.startswith("give-back")
                and request.id not in given_back
            ):
                given_back.add(request.id)
                request.message.channel.release_leases()
            started = original(self, request, pid)
            if fault == "kill-after-ack" and started and request.id.startswith("kill"):
                os.kill(os.getpid(), signal.SIGKILL)
            return started

        Consumer.on_start = on_start  # type: ignore[method-assign]

    signals.worker_init.connect(patch, weak=False)
