"""Real Celery, for the comparison: ``BENCH_BROKER`` is ``redis`` or ``django``.

Results always go to Redis (``BENCH_RESULT_DB``): Celery has no Django
result backend of its own here, so "Celery on django://" measures the
transport, not a result store.
"""

import os
import time

from celery import Celery

BROKER = os.environ.get("BENCH_BROKER", "redis")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")

if BROKER == "django":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import kombu_transport_django  # noqa: F401  registers django://

    broker_url = "django://"
else:
    broker_url = f"{REDIS}/{os.environ.get('BENCH_BROKER_DB', '15')}"

app = Celery("bench", broker=broker_url, backend=f"{REDIS}/{os.environ.get('BENCH_RESULT_DB', '14')}")
app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)


@app.task(name="bench.noop")
def noop(i):
    return i


@app.task(name="bench.noop_ignored", ignore_result=True)
def noop_ignored(i):
    return i


@app.task(name="bench.stamp")
def stamp(i):
    """When the body started: the latency workload's probe."""
    return time.time()
