"""The fuzz tests' app: a celery_compat app on the test database."""

from __future__ import annotations

import os
from typing import Iterator

import pytest
from hypothesis import settings

from celery_compat import Celery, _state

# Examples per property: small in CI, FUZZ_EXAMPLES=1000 for a long hunt.
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", 25)), deadline=None,
                          derandomize=bool(os.environ.get("CI")), print_blob=True)


@pytest.fixture
def app() -> Iterator[Celery]:
    import tests.fuzz.tasks  # noqa: F401  registers the shared tasks

    previous = getattr(_state._tls, "current_app", None)
    app = Celery("tests.fuzz")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.worker_hijack_root_logger = False
    app.finalize()
    yield app
    app.close()
    _state._tls.current_app = previous
