"""``celery.contrib.testing.worker``'s twin: an embedded worker for tests."""

from ...testing import start_worker

__all__ = ["start_worker"]
