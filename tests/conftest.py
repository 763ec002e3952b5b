"""Shared fixtures. The database comes from DATABASE_URL (see tests/settings.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that must use this test database."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["DJANGO_TEST_DB_NAME"] = connection.settings_dict["NAME"]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@pytest.fixture
def spawn() -> Iterator:
    """Start Python child processes on the test database; kill leftovers."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, **env: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=subprocess_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        # communicate() waits and closes the pipes: an unclosed pipe is a
        # ResourceWarning, which filterwarnings=error pins on the next test.
        try:
            proc.communicate(timeout=30)
        except ValueError:
            pass  # the test already communicated: pipes closed
