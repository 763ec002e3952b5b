"""The results modules never import ``celery``: a project may switch without Celery installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROGRAM = """
import sys
import django
django.setup()
from celery_compat.app import Celery
from celery_compat.result import AsyncResult, EagerResult, GroupResult, ResultSet, result_from_tuple
import celery_compat.admin, celery_compat.models
from celery_compat.backends import by_url
from celery_compat.backends import database, disabled, memory, waiting
app = Celery("isolation", set_as_current=False, backend="cache+memory://")
app.backend.mark_as_failure("x", ValueError("boom"))
AsyncResult("x", app=app).get(propagate=False)
loaded = sorted(m for m in sys.modules if m == "celery" or m.startswith("celery."))
print(loaded)
"""


def test_results_load_no_celery() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
