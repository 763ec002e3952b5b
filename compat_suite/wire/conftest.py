"""The ``wire`` fixture: real Celery and celery_compat on one ``django://`` broker.

Both run a worker on queues of their own (``wire.celery.q("default")``,
``wire.compat.q("default")``), with the same zoo, and share celery_compat's
result tables (real Celery through :class:`~compat_suite.wire.backend.
CompatTablesBackend`). A scenario publishes with one app to the other's
queue, and reads the result through both.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from compat_suite.conftest import REAL_CELERY
from compat_suite.runtimes import CeleryOnDjangoRuntime, CompatRuntime


class WireCeleryRuntime(CeleryOnDjangoRuntime):
    name = "wire_celery"

    def __init__(self) -> None:
        super().__init__()
        self.backend = "compat_suite.wire.backend:CompatTablesBackend"
        self.reference_broker = "django:// + celery_compat's result tables"


class WireCompatRuntime(CompatRuntime):
    name = "wire_compat"


@pytest.fixture(scope="session")
def wire(_runtimes: dict[str, Any]) -> Iterator[SimpleNamespace]:
    from compat_suite.wire.backend import CompatTablesBackend

    # One real Celery worker per process (see compat_suite/conftest.py).
    for other in REAL_CELERY & set(_runtimes):
        _runtimes.pop(other).stop()
    compat = WireCompatRuntime()
    compat.start()
    CompatTablesBackend.compat_app = compat.app
    celery = WireCeleryRuntime()
    try:
        celery.start()
    except BaseException:
        compat.stop()
        raise
    yield SimpleNamespace(celery=celery, compat=compat)
    celery.stop()
    compat.stop()
    CompatTablesBackend.compat_app = None
