"""The README's `python3 dev.py demo`, end to end: example/demo.py must pass all its checks.

The demo always runs on SQLite (it is what a newcomer runs with nothing
installed); its database and worker log go to a temporary directory
(``EXAMPLE_VAR_DIR``) so runs never share files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_demo_passes_its_checks(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(EXAMPLE_VAR_DIR=str(tmp_path), PYTHONPATH=str(ROOT), COLUMNS="160")
    proc = subprocess.run([sys.executable, "example/demo.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"all \d+ checks passed", out), out
    # What the README promises it shows: our worker with beat, the workload, and its summary.
    assert "python manage.py runworker -B" in out
    for scenario in ("chain(", "group(", "chord(", "fails once, retries", "countdown=3", "revoked",
                     "beat, every 2 s", "rolled back"):
        assert scenario in out, scenario
    assert "tasks finished" in out and "timings" in out
    assert "✗" not in out, out
    assert (tmp_path / "db.sqlite3").exists() and (tmp_path / "worker.log").exists()
