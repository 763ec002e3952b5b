"""A real Celery app on the django:// broker, for the interop tests.

Results go to Celery's filesystem backend (``CELERY_RESULT_DIR``), so the
tests need no other service.
"""

import os
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import kombu_transport_django  # noqa: E402,F401  registers django://
from celery import Celery  # noqa: E402

result_dir = Path(os.environ.get("CELERY_RESULT_DIR", "var/celery-results"))
result_dir.mkdir(parents=True, exist_ok=True)

app = Celery("tests.helpers.celery_app", broker="django://")
app.conf.update(
    result_backend=f"file://{result_dir.resolve()}",
    broker_transport_options={"lease_seconds": 10, "heartbeat_interval": 1},
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_acks_late=False,
)


@app.task
def add(x, y):
    return x + y


@app.task
def mark(path, value):
    """Append ``value`` to the file at ``path``: proves the task ran."""
    with open(path, "a") as fh:
        fh.write(f"{value}\n")
    return value


@app.task
def sleep_for(seconds):
    time.sleep(seconds)
    return seconds


# -- for tests/e2e/test_real_celery_worker.py ------------------------------

#: seconds an unused pidbox (control) queue lives; set short by the e2e
#: tests so a stopped worker's queue expires quickly
if os.environ.get("CELERY_CONTROL_QUEUE_EXPIRES"):
    app.conf.control_queue_expires = float(os.environ["CELERY_CONTROL_QUEUE_EXPIRES"])


@app.task
def ran_at():
    """The wall-clock time the task ran: proves an ETA was honoured."""
    return time.time()
