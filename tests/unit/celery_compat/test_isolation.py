"""celery_compat never imports celery: a project may switch without Celery installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

MODULES = [
    "celery_compat.states",
    "celery_compat.exceptions",
    "celery_compat.signals",
    "celery_compat.utils",
    "celery_compat.utils.log",
    "celery_compat.utils.dispatch",
    "celery_compat.utils.serialization",
]

PROGRAM = f"""
import importlib, sys
for name in {MODULES!r}:
    importlib.import_module(name)
from celery_compat.exceptions import Retry
from celery_compat.utils.serialization import exception_from_dict, exception_to_dict
exception_from_dict(exception_to_dict(Retry(exc=ValueError("x"), when=1)))
exception_from_dict({{"exc_type": "Retry", "exc_message": [], "exc_module": "celery.exceptions"}})
# (billiard may be loaded: kombu imports it when installed.)
loaded = sorted(m for m in sys.modules if m == "celery" or m.startswith("celery."))
print(loaded)
"""


def test_importing_and_using_the_modules_loads_no_celery() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
