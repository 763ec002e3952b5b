"""celery_compat.signals against celery.signals: every signal, its name and providing_args."""

from __future__ import annotations

from types import ModuleType

from celery_compat import signals
from celery_compat.utils.dispatch import Signal

#: Defined in celery.signals but not listed in its __all__.
UNLISTED = ["task_sent", "import_modules", "user_preload_options"]

#: The signals the surface spec marks as must-have.
REQUIRED = [
    "before_task_publish", "after_task_publish", "task_received", "task_prerun", "task_postrun",
    "task_success", "task_retry", "task_failure", "task_internal_error", "task_revoked",
    "task_rejected", "task_unknown", "celeryd_init", "celeryd_after_setup", "worker_init",
    "worker_ready", "worker_process_init", "worker_process_shutdown", "worker_shutting_down",
    "worker_shutdown", "beat_init", "beat_embedded_init", "setup_logging", "after_setup_logger",
    "after_setup_task_logger", "import_modules", "heartbeat_sent",
]  # fmt: skip


def test_exports_are_celerys(real_signals: ModuleType) -> None:
    assert signals.__all__ == real_signals.__all__


def test_every_signal_has_celerys_name_and_providing_args(real_signals: ModuleType) -> None:
    for attribute in [*real_signals.__all__, *UNLISTED]:
        ours, theirs = getattr(signals, attribute), getattr(real_signals, attribute)
        assert isinstance(ours, Signal), attribute
        assert (ours.name, ours.providing_args) == (theirs.name, theirs.providing_args), attribute


def test_the_required_signals_exist_and_are_distinct() -> None:
    found = [getattr(signals, name) for name in REQUIRED]
    assert all(signal.name == name for signal, name in zip(found, REQUIRED, strict=True))
    assert len({id(signal) for signal in found}) == len(REQUIRED)
