#!/usr/bin/env python3
"""The README's two commands, on a machine that has nothing but Python.

    python3 dev.py demo   # the example project on SQLite: runworker -B and a workload
    python3 dev.py test   # the test suite on SQLite (DATABASE_URL picks another)
    python3 dev.py docs   # regenerate docs/configuration.md from the code

Each creates ``.venv`` on first use and installs what it needs into it.
Extra arguments after ``test`` go to pytest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(extras: str) -> None:
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    marker = VENV / f".installed-{extras}"
    stamp = str((ROOT / "setup.cfg").stat().st_mtime)
    if marker.exists() and marker.read_text() == stamp:
        return
    print(f"installing django-celery-compat[{extras}] into {VENV}", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "-e", f".[{extras}]"], cwd=ROOT, check=True)
    marker.write_text(stamp)


def run(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd``; Ctrl-C goes to it (same process group), not to us."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "docs"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if command == "test":
        ensure_venv("test")
        return run([str(PYTHON), "-m", "pytest", *rest], env)
    if command == "docs":
        ensure_venv("test")
        return run([str(PYTHON), "docs/generate.py", *rest], env)
    ensure_venv("demo")
    return run([str(PYTHON), "example/demo.py", *rest], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
