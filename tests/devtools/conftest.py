"""The CLI tests reuse the worker tests' fixtures: ``app`` and real ``runworker`` children."""

from tests.worker.conftest import app, events, runworker  # noqa: F401
