"""The project's app, configured from Django settings (``CELERY_*``)."""

import os

from celery_compat import Celery
from celery_compat.signals import worker_process_init, worker_process_shutdown

app = Celery("proj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _note(event: str) -> None:
    # Prefork children say they started/stopped in a file the test reads.
    path = os.environ.get("PROJ_EVENTS_FILE")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{event} {os.getpid()}\n")


@worker_process_init.connect
def on_child_init(**kwargs):
    _note("process_init")


@worker_process_shutdown.connect
def on_child_shutdown(pid=None, exitcode=None, **kwargs):
    _note(f"process_shutdown exitcode={exitcode}")
