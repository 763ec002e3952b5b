"""Settings of the runworker subprocesses of the canvas tests: the worker project plus the canvas tasks.

``tests.canvas`` is listed as an app so that the project's
``autodiscover_tasks()`` imports ``tests.canvas.tasks`` in the worker.
"""

from tests.worker.proj.settings import *  # noqa: F401,F403
from tests.worker.proj.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.canvas"]
