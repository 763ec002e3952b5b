"""Shutdown on signals, as Celery's worker does it.

- SIGTERM: *warm* shutdown: stop taking tasks, let running ones finish,
  close the connection (the transport gives prefetched messages back),
  exit 0.
- SIGINT (Ctrl+C): warm too, exit code 1 (Celery's ``EX_FAILURE``); a
  second Ctrl+C is cold.
- SIGQUIT, or any second SIGTERM/SIGINT: *cold* shutdown: running tasks
  are abandoned (prefork children are killed) and the worker exits at once
  with code 1.

Each sends ``worker_shutting_down(sender=hostname, sig, how, exitcode)``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from .. import signals
from ..exceptions import WorkerTerminate

if TYPE_CHECKING:
    from .worker import WorkController

EX_OK = 0
EX_FAILURE = 1


def say(message: str) -> None:
    """Print to the real stdout, unbuffered: safe inside a signal handler."""
    stream = sys.__stdout__
    if stream is not None:
        try:
            stream.write(message + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass


class ShutdownHandlers:
    """SIGTERM/SIGINT/SIGQUIT handlers for one worker, in the main thread only."""

    SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT")

    def __init__(self, worker: WorkController) -> None:
        self.worker = worker
        self._previous: dict[int, Any] = {}
        self._cold = False

    def install(self) -> bool:
        """Install the handlers; False (and nothing done) outside the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for name in self.SIGNALS:
            number = getattr(signal, name)
            self._previous[number] = signal.signal(number, self._handle)
        return True

    def restore(self) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._cold:
            say("worker: Forced exit")
            os._exit(EX_FAILURE)  # a third signal: the cold shutdown itself hangs
        if signum == signal.SIGQUIT or self.worker.stopping:
            self.cold(name)
        else:
            self.warm(name, EX_FAILURE if signum == signal.SIGINT else EX_OK)

    def warm(self, sig: str, exitcode: int = EX_OK) -> None:
        worker = self.worker
        say("worker: Warm shutdown (MainProcess)")
        if sig == "SIGINT":
            say("worker: Hitting Ctrl+C again will initiate cold shutdown, terminating all running tasks!")
        try:
            signals.worker_shutting_down.send(sender=worker.hostname, sig=sig, how="Warm", exitcode=exitcode)
        finally:
            worker.request_stop(exitcode)

    def cold(self, sig: str) -> None:
        worker = self.worker
        self._cold = True
        say("worker: Cold shutdown (MainProcess)")
        try:
            signals.worker_shutting_down.send(sender=worker.hostname, sig=sig, how="Cold", exitcode=EX_FAILURE)
        finally:
            worker.stopping = True
            # Raised into whatever the main thread runs, a task included.
            raise WorkerTerminate(EX_FAILURE)
