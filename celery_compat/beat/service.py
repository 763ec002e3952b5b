"""``Beat``: runs a :class:`DatabaseScheduler` until stopped, alone or inside a worker.

``manage.py runbeat`` runs it in the main thread; ``runworker -B`` in a thread
of the worker (:meth:`Beat.start_embedded`), started once the worker
consumes. Database errors do not stop it: it logs them, drops the
connection and tries again (the claim transaction makes a retried tick safe).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections

from .. import signals
from .entries import settings_entries
from .scheduler import DatabaseScheduler, check_scheduler_setting

if TYPE_CHECKING:
    from ..app import Celery

logger = logging.getLogger("celery.beat")

#: Seconds to wait before retrying after an error.
ERROR_RETRY_INTERVAL = 2.0


class Beat:
    """The beat service: ``run()`` ticks the scheduler until :meth:`stop`."""

    def __init__(self, app: Celery, hostname: str = "", max_interval: float | None = None) -> None:
        check_scheduler_setting(app)
        settings_entries(app)  # a bad beat_schedule fails here, before any thread starts
        self.app = app
        self.hostname = hostname
        self.scheduler = DatabaseScheduler(app, hostname=hostname, max_interval=max_interval)
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def run(self, embedded: bool = False) -> None:
        """Tick until stopped. Settings errors raise at once (``ImproperlyConfigured``)."""
        while not self._setup():
            if self._stop.wait(ERROR_RETRY_INTERVAL):
                return
        (signals.beat_embedded_init if embedded else signals.beat_init).send(sender=self)
        logger.info("beat: starting (%s), %d entries, max interval %ss", self.hostname or "standalone",
                    len(self.scheduler.entries), self.scheduler.max_interval)
        try:
            while not self._stop.is_set():
                try:
                    wait = self.scheduler.tick()
                except Exception:
                    logger.exception("beat: tick failed; retrying in %ss", ERROR_RETRY_INTERVAL)
                    _drop_connections()
                    wait = ERROR_RETRY_INTERVAL
                self._stop.wait(wait)
        finally:
            _drop_connections()
            logger.info("beat: stopped")

    def _setup(self) -> bool:
        try:
            self.scheduler.setup()
        except DatabaseError as exc:
            # A database that is down or not migrated yet: say so, and keep trying.
            logger.error("beat: cannot read the schedule tables (%s); is the database up and "
                         "`manage.py migrate celery_compat` done? Retrying in %ss", exc, ERROR_RETRY_INTERVAL)
            _drop_connections()
            return False
        return True

    def stop(self) -> None:
        """Stop after the current tick."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def start_embedded(self, ready: threading.Event | None = None) -> threading.Thread:
        """Run in a daemon thread (``runworker -B``); wait for ``ready`` (the worker consuming) first."""

        def target() -> None:
            if ready is not None:
                while not ready.wait(0.2):
                    if self._stop.is_set():
                        return
            try:
                self.run(embedded=True)
            except Exception:
                logger.critical("beat: cannot run; the worker goes on without it", exc_info=True)

        self.thread = threading.Thread(target=target, name="Beat", daemon=True)
        self.thread.start()
        return self.thread

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


def _drop_connections() -> None:
    # This thread's connections only (Django keeps one per thread).
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


def embed(worker: Any) -> Beat:
    """Start beat inside ``worker`` (a ``WorkController``) once it consumes; stops with it."""
    beat = Beat(worker.app, hostname=worker.hostname)
    beat.start_embedded(ready=worker.ready)
    return beat
