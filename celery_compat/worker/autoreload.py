"""``runworker --reload``: restart the worker when code changes (development only).

Django's autoreloader (``django.utils.autoreload.run_with_reloader``, the
one behind ``runserver``) runs the command twice: a parent that only
restarts, and a child (``RUN_MAIN=true``) that runs the worker in a thread
while its main thread watches the imported modules. When a file changes,
the child stops the worker *warmly* (running tasks finish, prefetched
messages go back to the queue at once) and exits with code 3; the parent
starts a new child.

Signals: the parent ignores SIGINT, so Ctrl+C reaches the child alone and
is handled as in a plain worker (warm, a second one cold); the parent
then exits with the child's code. A SIGTERM sent to the *parent* is
Django's: it kills the child at once (its leases return after
``lease_seconds``), so stop a reloading worker with Ctrl+C.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable

from django.utils import autoreload

from ..exceptions import WorkerTerminate
from .shutdown import EX_FAILURE, ShutdownHandlers

if TYPE_CHECKING:
    from .worker import WorkController

logger = logging.getLogger("celery.worker.autoreload")

#: exit code of a child that wants to be restarted (Django's convention)
RESTART = 3

#: runs before the worker starts; may return what to call once it stopped
Prepare = Callable[[], "Callable[[], None] | None"]


def is_reloader_child() -> bool:
    """Whether this process is the child that runs the worker."""
    return os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true"


def run_with_reload(worker: WorkController, prepare: Prepare | None = None) -> int:
    """Run ``worker`` under Django's autoreloader; returns the exit code.

    ``worker`` must be built with ``install_signal_handlers=False``: it runs
    in a thread, and its signal handlers are installed here, in the main
    thread. ``prepare`` runs in the reloader's child only, before the worker
    starts (``runworker -B`` embeds beat there); the callable it may return
    runs after the worker stopped.
    """
    if not is_reloader_child():
        # Ctrl+C is for the child: it stops its worker warmly and exits,
        # and the parent returns its code instead of killing it mid-task.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            autoreload.run_with_reloader(lambda: None)  # the parent branch exits with the child's code
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EX_FAILURE
        return 0
    return _Child(worker, prepare).run()


class _Child:
    def __init__(self, worker: WorkController, prepare: Prepare | None) -> None:
        self.worker = worker
        self.prepare = prepare
        self.handlers = ShutdownHandlers(worker)
        self.reloader: Any = None
        self.thread: threading.Thread | None = None
        self.exitcode: int | None = None

    def run(self) -> int:
        autoreload.autoreload_started.connect(self._on_started, weak=False)
        autoreload.file_changed.connect(self._on_file_changed, weak=False)
        try:
            # The parent ignored SIGINT and the child inherits that: take it back.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            autoreload.run_with_reloader(self._main)
        except WorkerTerminate as exc:  # a second Ctrl+C: cold shutdown
            self.worker._stop_cold()
            return exc.code if isinstance(exc.code, int) else EX_FAILURE
        finally:
            autoreload.autoreload_started.disconnect(self._on_started)
            autoreload.file_changed.disconnect(self._on_file_changed)
        if self.thread is not None:
            self.thread.join()
        return EX_FAILURE if self.exitcode is None else self.exitcode

    # -- in the worker's thread ("django-main-thread") ----------------------------------

    def _main(self) -> None:
        self.thread = threading.current_thread()
        try:
            after = self.prepare() if self.prepare is not None else None
            try:
                self.exitcode = self.worker.start()
            finally:
                if after is not None:
                    after()
        except Exception:
            # A broken module after an edit: say so and keep watching; saving
            # the fix restarts the worker (Django watches the failing file).
            logger.exception("The worker could not start; fix the error and save: it restarts")
            raise
        # Stopped from outside (signal, remote shutdown): the child ends too.
        if self.reloader is not None:
            self.reloader.stop()

    # -- in the main thread (the reloader's) ---------------------------------------------

    def _on_started(self, sender: Any, **kwargs: Any) -> None:
        self.reloader = sender
        # run_with_reloader made SIGTERM a plain sys.exit(0): give the worker
        # its own warm/cold handlers back.
        for name in ShutdownHandlers.SIGNALS:
            signal.signal(getattr(signal, name), self._on_signal)
        if self.thread is not None and not self.thread.is_alive() and self.exitcode is not None:
            sender.stop()  # the worker already stopped before the reloader began

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.handlers._handle(signum, frame)  # warm, then cold: as a plain worker
        else:
            # No worker runs (it failed to start after an edit): just leave.
            raise SystemExit(EX_FAILURE)

    def _on_file_changed(self, sender: Any, file_path: Any, **kwargs: Any) -> None:
        logger.warning("%s changed: stopping the worker (warm) to restart it", file_path)
        self.worker.request_stop(0)
        thread = self.thread
        if thread is not None and thread.is_alive():
            thread.join()
        # Returning nothing truthy: Django's trigger_reload exits with code 3.
        sys.stdout.flush()
        sys.stderr.flush()
