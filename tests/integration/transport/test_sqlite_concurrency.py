"""SQLite without immediate transactions: concurrent declaring publishers all succeed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_concurrent_publishers_declaring_queues_never_see_database_is_locked(tmp_path: Path) -> None:
    # Before queue declaration and binding became single-statement upserts,
    # this lost about 40 of 320 publishes to "database is locked".
    result = subprocess.run(
        [sys.executable, "-m", "tests.helpers.sqlite_publishers", str(tmp_path / "db.sqlite3")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])

    assert outcome == {"errors": [], "messages": 320}
