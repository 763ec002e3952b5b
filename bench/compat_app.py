"""The celery_compat app the benchmark publishes to and runs (``runworker -A bench.compat_app``)."""

import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from celery_compat import Celery  # noqa: E402

app = Celery("bench")
app.config_from_object("django.conf:settings", namespace="CELERY")


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
