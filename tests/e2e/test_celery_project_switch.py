"""Celery's Django example project, switched by changing only its imports.

The project is written as Celery's documentation lays it out (proj/celery.py
with ``Celery('proj')``, ``config_from_object``, ``autodiscover_tasks``, tasks
in an app's tasks.py with ``shared_task``), importing ``celery``. The test
rewrites those import lines to ``celery_compat``, then migrates, sends tasks
and runs them through a real ``runworker`` process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FILES = {
    "manage.py": """
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
            from django.core.management import execute_from_command_line
            execute_from_command_line(sys.argv)
    """,
    "proj/__init__.py": """
        from .celery import app as celery_app

        __all__ = ("celery_app",)
    """,
    "proj/celery.py": """
        import os

        from celery import Celery

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        app = Celery("proj")
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.autodiscover_tasks()


        @app.task(bind=True, ignore_result=True)
        def debug_task(self):
            print(f"Request: {self.request!r}")
    """,
    "proj/settings.py": """
        import os
        from pathlib import Path

        BASE_DIR = Path(__file__).resolve().parent.parent
        SECRET_KEY = "example"
        USE_TZ = True
        TIME_ZONE = "Europe/Paris"
        INSTALLED_APPS = [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "kombu_transport_django",
            "celery_compat",
            "demoapp",
        ]
        DATABASES = {"default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE",
                        "init_command": "PRAGMA journal_mode=WAL;"},
        }}
        CELERY_TASK_SERIALIZER = "json"
        CELERY_RESULT_EXTENDED = True
        CELERY_TASK_ROUTES = {"demoapp.tasks.mul": {"queue": "math"}}
    """,
    "demoapp/__init__.py": "",
    "demoapp/tasks.py": """
        from celery import shared_task
        from celery.exceptions import Ignore
        from celery.utils.log import get_task_logger

        logger = get_task_logger(__name__)


        @shared_task
        def add(x, y):
            return x + y


        @shared_task(queue="math")
        def mul(x, y):
            return x * y


        @shared_task(bind=True, max_retries=3)
        def flaky(self, n):
            if self.request.retries < n:
                raise self.retry(countdown=0.1)
            return self.request.retries


        @shared_task
        def xsum(numbers):
            return sum(numbers)


        @shared_task
        def boom():
            raise ValueError("boom")
    """,
    "send.py": """
        import json
        import os
        import sys

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        django.setup()

        from demoapp.tasks import add, boom, flaky, mul, xsum

        ids = {
            "add": add.delay(2, 3).id,
            "mul": mul.delay(6, 7).id,
            "flaky": flaky.delay(2).id,
            "xsum": xsum.apply_async(([1, 2, 3],), countdown=1).id,
            "boom": boom.delay().id,
        }
        json.dump(ids, sys.stdout)
    """,
    "read.py": """
        import json
        import os
        import sys

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        django.setup()

        from celery import current_app

        out = {}
        for name, task_id in json.load(sys.stdin).items():
            result = current_app.AsyncResult(task_id)
            value = result.get(timeout=10, propagate=False)
            out[name] = [result.state, repr(value)]
        json.dump(out, sys.stdout)
    """,
}

IMPORT_LINE = re.compile(r"^(\s*)(from|import) celery(\b|\.)", re.MULTILINE)


def switch_imports(source: str) -> str:
    """The one change a project makes: ``celery`` → ``celery_compat`` in imports."""
    return IMPORT_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)} celery_compat{m.group(3)}", source)


def write_project(root: Path) -> None:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(switch_imports(textwrap.dedent(text).lstrip()))


def run(root: Path, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, *args], cwd=root, env=env, input=stdin, text=True,
                          capture_output=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_rewriting_imports_is_the_only_change() -> None:
    assert switch_imports("from celery import Celery\nimport celery.exceptions\n") == (
        "from celery_compat import Celery\nimport celery_compat.exceptions\n"
    )
    assert switch_imports("x = 'from celery import'\n") == "x = 'from celery import'\n"


@pytest.mark.slow
def test_celerys_django_project_runs_on_runworker_after_the_import_switch(tmp_path: Path) -> None:
    import json

    write_project(tmp_path)
    assert "from celery_compat import shared_task" in (tmp_path / "demoapp/tasks.py").read_text()

    run(tmp_path, "manage.py", "migrate", "-v", "0")
    ids = run(tmp_path, "send.py")
    run(tmp_path, "manage.py", "runworker", "--until-empty", "-P", "solo", "-Q", "celery,math", "-l", "WARNING")
    outcome = json.loads(run(tmp_path, "read.py", stdin=ids))

    assert outcome == {
        "add": ["SUCCESS", "5"],
        "mul": ["SUCCESS", "42"],
        "flaky": ["SUCCESS", "2"],
        "xsum": ["SUCCESS", "6"],
        "boom": ["FAILURE", "ValueError('boom')"],
    }
