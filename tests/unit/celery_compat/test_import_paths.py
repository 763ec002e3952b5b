"""Every module path a project imports from Celery has its twin with the same names.

The issue's list: ``celery`` → ``celery_compat``, ``celery.app.task``,
``celery.result``, ``celery.exceptions``, ``celery.signals``, ``celery.states``,
``celery.utils.log``, ``celery.schedules``, ``celery.canvas`` and
``celery.contrib.testing.worker`` (``celery.contrib.pytest``'s fixtures:
tests/integration/contrib; exception classes in detail: test_exceptions.py).
Each name is checked in real Celery too, so the
list cannot drift into names Celery does not have.
"""

from __future__ import annotations

import importlib

import pytest

#: module suffix → names a project imports from it
TWINS = {
 "": ["Celery", "shared_task", "Task", "current_app", "current_task", "signature", "states", "chain", "group", "chord", "chunks", "xmap", "xstarmap", "Signature", "uuid", "maybe_signature"],
 ".app.task": ["Task", "Context"],
 ".result": ["AsyncResult", "GroupResult", "ResultSet", "EagerResult", "allow_join_result", "result_from_tuple", "denied_join_result"],
 ".exceptions": ["Retry", "Ignore", "Reject", "MaxRetriesExceededError", "TimeoutError", "TaskRevokedError", "NotRegistered", "SoftTimeLimitExceeded", "TimeLimitExceeded", "WorkerLostError", "ChordError", "ImproperlyConfigured", "TaskPredicate", "CeleryError", "AlreadyRegistered", "QueueNotFound", "InvalidTaskError", "IncompleteStream", "AlwaysEagerIgnored", "WorkerShutdown", "WorkerTerminate", "Terminated", "BackendError", "BackendGetMetaError", "BackendStoreError", "TaskError", "SecurityError", "OperationalError", "CPendingDeprecationWarning", "CDeprecationWarning", "DuplicateNodenameWarning", "FixupWarning", "NotConfigured", "CeleryWarning", ],
 ".signals": ["before_task_publish", "after_task_publish", "task_received", "task_prerun", "task_postrun", "task_success", "task_retry", "task_failure", "task_internal_error", "task_revoked", "task_rejected", "task_unknown", "celeryd_init", "celeryd_after_setup", "import_modules", "worker_init", "worker_before_create_process", "worker_process_init", "worker_process_shutdown", "worker_ready", "worker_shutdown", "worker_shutting_down", "heartbeat_sent", "setup_logging", "after_setup_logger", "after_setup_task_logger", "beat_init", "beat_embedded_init", "user_preload_options"],
 ".states": ["PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "REVOKED", "REJECTED", "RETRY", "IGNORED", "READY_STATES", "UNREADY_STATES", "EXCEPTION_STATES", "PROPAGATE_STATES", "ALL_STATES", "state", "precedence"],
 ".utils.log": ["get_task_logger", "get_logger"],
 ".schedules": ["crontab", "schedule", "solar", "maybe_schedule"],
 ".canvas": ["Signature", "signature", "maybe_signature", "chain", "group", "chord", "chunks", "xmap", "xstarmap"],
 ".contrib.testing.worker": ["start_worker"],
}


@pytest.mark.parametrize("suffix", list(TWINS))
def test_twin_module_has_celerys_names(suffix: str) -> None:
    real = importlib.import_module("celery" + suffix)
    ours = importlib.import_module("celery_compat" + suffix)
    assert [name for name in TWINS[suffix] if not hasattr(real, name)] == [], "not Celery names"
    assert [name for name in TWINS[suffix] if not hasattr(ours, name)] == []

