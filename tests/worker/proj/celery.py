"""The project's app, configured from Django settings (``CELERY_*``)."""

import os

from celery_compat import Celery
from celery_compat.signals import (
    worker_before_create_process,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

app = Celery("proj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _note(event: str) -> None:
    # Prefork children say they started/stopped in a file the test reads.
    path = os.environ.get("PROJ_EVENTS_FILE")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{event} {os.getpid()}\n")


@worker_before_create_process.connect
def on_before_create_process(sender=None, **kwargs):
    # In the worker, before each prefork child (the pid is the worker's).
    _note(f"before_create_process {type(sender).__name__}")


@worker_process_init.connect
def on_child_init(**kwargs):
    _note("process_init")


@worker_process_shutdown.connect
def on_child_shutdown(pid=None, exitcode=None, **kwargs):
    _note(f"process_shutdown exitcode={exitcode}")


@worker_init.connect
def on_worker_init(sender=None, **kwargs):
    _note(f"worker_init {type(sender).__name__}")


@worker_ready.connect
def on_worker_ready(sender=None, **kwargs):
    _note(f"worker_ready {type(sender).__name__}")


@worker_shutting_down.connect
def on_shutting_down(sender=None, sig=None, how=None, exitcode=None, **kwargs):
    _note(f"worker_shutting_down {sig} {how} {exitcode} {sender}")


@worker_shutdown.connect
def on_worker_shutdown(sender=None, **kwargs):
    _note(f"worker_shutdown {type(sender).__name__}")
