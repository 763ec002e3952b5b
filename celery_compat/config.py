"""Celery's settings: the same names and defaults, read in one place.

Two defaults differ on purpose, because the database is the point:
``broker_url`` is ``"django://"`` and ``result_backend`` is ``"django-db"``
(django-celery-results' name, served by our own models). Every other name
and default is Celery 5.6's. Keys Celery knows for backends we do not have
(``redis_*``, ``cassandra_*``…) are accepted and kept, never an error.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, Iterator, Mapping

from .exceptions import ImproperlyConfigured

DEFAULTS: dict[str, Any] = {
    # general
    "accept_content": ("json",),
    "enable_utc": True,
    "imports": (),
    "include": (),
    "timezone": None,
    # broker
    "broker_url": "django://",
    "broker_read_url": None,
    "broker_write_url": None,
    "broker_transport": None,
    "broker_transport_options": {},
    "broker_connection_retry": True,
    "broker_connection_retry_on_startup": None,
    "broker_connection_max_retries": 100,
    "broker_connection_timeout": 4,
    "broker_channel_error_retry": False,
    "broker_heartbeat": 120,
    "broker_pool_limit": 10,
    "broker_use_ssl": False,
    # results
    "result_backend": "django-db",
    "result_accept_content": None,
    "result_cache_max": -1,
    "result_chord_join_timeout": 3.0,
    "result_chord_retry_interval": 1.0,
    "result_compression": None,
    "result_expires": dt.timedelta(days=1),
    "result_extended": False,
    "result_persistent": None,
    "result_serializer": "json",
    # tasks
    "task_acks_late": False,
    "task_acks_on_failure": None,
    "task_acks_on_failure_or_timeout": True,
    "task_acks_on_timeout": None,
    "task_allow_error_cb_on_chord_header": False,
    "task_always_eager": False,
    "task_annotations": None,
    "task_compression": None,
    "task_create_missing_queues": True,
    "task_default_delivery_mode": 2,
    "task_default_exchange": None,
    "task_default_exchange_type": "direct",
    "task_default_priority": None,
    "task_default_queue": "celery",
    "task_default_rate_limit": None,
    "task_default_routing_key": None,
    "task_eager_propagates": False,
    "task_ignore_result": False,
    "task_inherit_parent_priority": False,
    "task_protocol": 2,
    "task_publish_retry": True,
    "task_publish_retry_policy": {
        "max_retries": 3,
        "interval_start": 0,
        "interval_max": 1,
        "interval_step": 0.2,
    },
    "task_queue_max_priority": None,
    "task_queues": None,
    "task_reject_on_worker_lost": None,
    "task_retry_on_worker_lost": False,
    "task_remote_tracebacks": False,
    "task_routes": None,
    "task_send_sent_event": False,
    "task_serializer": "json",
    "task_soft_time_limit": None,
    "task_store_eager_result": False,
    "task_store_errors_even_if_ignored": False,
    "task_time_limit": None,
    "task_track_started": False,
    # worker
    "worker_cancel_long_running_tasks_on_connection_loss": False,
    "worker_concurrency": None,
    "worker_deduplicate_successful_tasks": False,
    "worker_disable_rate_limits": False,
    "worker_enable_remote_control": True,
    "worker_hijack_root_logger": True,
    "worker_log_color": None,
    "worker_log_format": "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s",
    "worker_lost_wait": 10.0,
    "worker_max_memory_per_child": None,
    "worker_max_tasks_per_child": None,
    "worker_pool": "prefork",
    "worker_prefetch_multiplier": 4,
    "worker_proc_alive_timeout": 4.0,
    "worker_redirect_stdouts": True,
    "worker_redirect_stdouts_level": "WARNING",
    "worker_send_task_events": False,
    "worker_task_log_format": (
        "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s"
    ),
    # beat
    "beat_cron_starting_deadline": None,
    "beat_max_loop_interval": 0,
    "beat_schedule": {},
    "beat_scheduler": "celery_compat.beat:DatabaseScheduler",
    "beat_sync_every": 0,
    # remote control and events
    "control_exchange": "celery",
    "control_queue_expires": 10.0,
    "control_queue_ttl": 300.0,
    "event_exchange": "celeryev",
    "event_queue_expires": 60.0,
    "event_queue_ttl": 5.0,
    "event_serializer": "json",
    # Celery 5.7's other settings: accepted with Celery's defaults, not read (docs/configuration.md)
    "beat_enable_remote_control": False,
    "beat_remote_control_max_tick_age": None,
    "beat_schedule_filename": 'celerybeat-schedule',
    "broker_failover_strategy": None,
    "broker_heartbeat_checkrate": 3.0,
    "broker_host": None,
    "broker_login_method": None,
    "broker_native_delayed_delivery_queue_type": 'quorum',
    "broker_password": None,
    "broker_pool_acquire_timeout": None,
    "broker_port": None,
    "broker_user": None,
    "broker_vhost": None,
    "control_queue_durable": False,
    "control_queue_exclusive": True,
    "event_queue_durable": False,
    "event_queue_exclusive": True,
    "event_queue_prefix": 'celeryev',
    "result_backend_always_retry": False,
    "result_backend_base_sleep_between_retries_ms": 10,
    "result_backend_max_retries": float("inf"),
    "result_backend_max_sleep_between_retries_ms": 10000,
    "result_backend_transport_options": {},
    "result_chord_expires": None,
    "result_exchange": 'celeryresults',
    "result_exchange_type": 'direct',
    "result_failure_expires": None,
    "task_create_missing_queue_exchange_type": None,
    "task_create_missing_queue_type": 'classic',
    "task_default_queue_type": 'classic',
    "task_repr_maxlevels": 3,
    "worker_agent": None,
    "worker_autoscaler": 'celery.worker.autoscale:Autoscaler',
    "worker_consumer": 'celery.worker.consumer:Consumer',
    "worker_detect_quorum_queues": True,
    "worker_direct": False,
    "worker_disable_prefetch": False,
    "worker_enable_prefetch_count_reduction": True,
    "worker_enable_soft_shutdown_on_idle": False,
    "worker_eta_task_limit": None,
    "worker_log_datefmt": None,
    "worker_pool_putlocks": True,
    "worker_pool_restarts": False,
    "worker_pool_start_method": 'fork',
    "worker_soft_shutdown_timeout": 0.0,
    "worker_state_db": None,
    "worker_task_log_datefmt": None,
    "worker_timer": None,
    "worker_timer_precision": 1.0,
}

#: settings whose default differs from Celery's, with Celery's value
DIFFERENT_FROM_CELERY = {"broker_url": None, "result_backend": None, "beat_scheduler": "celery.beat:PersistentScheduler"}


class Settings(dict):
    """``app.conf``: a dict with attribute access, defaults underneath."""

    def __init__(self, changes: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if changes:
            self.update(changes)

    def __missing__(self, key: str) -> Any:
        # dict.__getitem__ calls this for a key not set: a set key costs no
        # Python call (a publish reads eight settings).
        if key not in DEFAULTS:
            raise KeyError(key)
        default = DEFAULTS[key]
        if isinstance(default, (dict, list)):
            # A copy of its own, kept: code that mutates
            # conf.broker_transport_options must not change every app's.
            default = copy.deepcopy(default)
            dict.__setitem__(self, key, default)
        return default

    def __getattribute__(self, key: str) -> Any:
        # A setting is answered here. Left to the normal lookup, a read of one
        # failed it first (an AttributeError made and dropped) and only then
        # reached __getattr__: about 1 us, and a publish reads eight.
        if key in _SETTING_NAMES:
            return self[key]
        return object.__getattribute__(self, key)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__!r} has no setting {key!r}; Celery's setting names are "
                f"lowercase, e.g. 'task_default_queue'"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self[key] = value

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or key in DEFAULTS

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def all_keys(self) -> Iterator[str]:
        yield from sorted(set(DEFAULTS) | set(dict.keys(self)))

    def changes(self) -> dict[str, Any]:
        """Settings set explicitly, as opposed to defaults."""
        return dict(self.items())

    def humanize(self) -> str:
        return "\n".join(f"{key}: {self[key]!r}" for key in sorted(dict.keys(self)))

    def table(self) -> dict[str, Any]:
        return {key: self[key] for key in self.all_keys()}


#: the settings :meth:`Settings.__getattribute__` answers (not the names of its methods)
_SETTING_NAMES = frozenset(DEFAULTS) - frozenset(dir(Settings))


def read_object(obj: Any, namespace: str | None = None) -> dict[str, Any]:
    """Settings from a module or object, the way ``config_from_object`` reads them.

    With ``namespace="CELERY"`` only ``CELERY_<NAME>`` attributes count, and
    ``CELERY_TASK_SERIALIZER`` becomes ``task_serializer``. As in Celery, old
    pre-4.0 names (``CELERY_ALWAYS_EAGER``) are then simply not recognised.
    Without a namespace, lowercase attributes are the settings.
    """
    values: dict[str, Any] = {}
    names = [name for name in dir(obj) if not name.startswith("_")]
    if namespace:
        prefix = namespace.rstrip("_") + "_"
        for name in names:
            if name.isupper() and name.startswith(prefix):
                values[name[len(prefix):].lower()] = getattr(obj, name)
        return values
    uppercase_celery = [n for n in names if n.isupper() and n.startswith("CELERY")]
    lowercase = [n for n in names if n.islower() and n in DEFAULTS]
    if uppercase_celery and lowercase:
        raise ImproperlyConfigured(
            f"Cannot mix new and old setting names: {lowercase[0]!r} and {uppercase_celery[0]!r} "
            f"are both set. Use lowercase names, or config_from_object(..., namespace='CELERY') "
            f"with CELERY_-prefixed uppercase names."
        )
    for name in names:
        if name.islower():
            values[name] = getattr(obj, name)
    return values
