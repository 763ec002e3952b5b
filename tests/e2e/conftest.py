"""End-to-end fixtures."""

from __future__ import annotations

import subprocess
from typing import Iterator

import pytest


@pytest.fixture
def spawn(spawn) -> Iterator:
    """The parent ``spawn``, also closing every child's pipes at teardown.

    A test that fails half-way leaves children whose stdout/stderr pipes
    would otherwise be garbage-collected open (a ResourceWarning, an error
    under ``filterwarnings = error``, blamed on the next test).
    """
    procs: list[subprocess.Popen] = []

    def start(*args: str, **env: str) -> subprocess.Popen:
        proc = spawn(*args, **env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=30)
        except ValueError:
            pass  # already communicated and closed
