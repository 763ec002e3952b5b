"""Celery's signals, with Celery's names and ``providing_args``.

Connect receivers as with Celery::

    from celery_compat.signals import task_failure

    @task_failure.connect(sender="tasks.add")   # or sender=add, or no sender
    def on_failure(sender=None, task_id=None, exception=None, **kwargs): ...

Receivers must accept ``**kwargs``; their exceptions are logged, never raised
(see :class:`~celery_compat.utils.dispatch.Signal`). The comments give each
signal's sender and the keyword arguments it is sent with.
``providing_args`` is Celery's, documentation only: where Celery's list is
incomplete (``after_task_publish`` also sends ``headers``, ``task_postrun``
also sends ``state``) it is kept as Celery has it.
"""

from __future__ import annotations

from .utils.dispatch import Signal

__all__ = (
    "before_task_publish",
    "after_task_publish",
    "task_internal_error",
    "task_prerun",
    "task_postrun",
    "task_success",
    "task_received",
    "task_rejected",
    "task_unknown",
    "task_retry",
    "task_failure",
    "task_revoked",
    "celeryd_init",
    "celeryd_after_setup",
    "worker_init",
    "worker_before_create_process",
    "worker_process_init",
    "worker_process_shutdown",
    "worker_ready",
    "worker_shutdown",
    "worker_shutting_down",
    "setup_logging",
    "after_setup_logger",
    "after_setup_task_logger",
    "beat_init",
    "beat_embedded_init",
    "heartbeat_sent",
    "eventlet_pool_started",
    "eventlet_pool_preshutdown",
    "eventlet_pool_postshutdown",
    "eventlet_pool_apply",
)

# -- Task ------------------------------------------------------------------

#: Client, before publishing. sender: task name (str). Mutating ``headers``
#: changes the message.
before_task_publish = Signal(
    name="before_task_publish",
    providing_args={"body", "exchange", "routing_key", "headers", "properties", "declare", "retry_policy"},
)
#: Client, after publishing. sender: task name; also sends ``headers``.
after_task_publish = Signal(name="after_task_publish", providing_args={"body", "exchange", "routing_key"})
#: Worker main process, on receiving a task. sender: the consumer.
task_received = Signal(name="task_received", providing_args={"request"})
#: Before a task runs (eager too). sender: the task.
task_prerun = Signal(name="task_prerun", providing_args={"task_id", "task", "args", "kwargs"})
#: After a task ran, whatever the outcome. sender: the task; also sends ``state``.
task_postrun = Signal(name="task_postrun", providing_args={"task_id", "task", "args", "kwargs", "retval"})
#: After a successful task's result is stored. sender: the task.
task_success = Signal(name="task_success", providing_args={"result", "runtime"})
#: A task is to be retried. sender: the task; ``reason`` is the Retry.
task_retry = Signal(name="task_retry", providing_args={"request", "reason", "einfo"})
#: A task failed. sender: the task.
task_failure = Signal(
    name="task_failure",
    providing_args={"task_id", "exception", "args", "kwargs", "traceback", "einfo"},
)
#: The worker failed internally while running a task. sender: the task.
task_internal_error = Signal(
    name="task_internal_error",
    providing_args={"task_id", "args", "kwargs", "request", "exception", "traceback", "einfo"},
)
#: A task was revoked, expired or terminated. sender: the task.
task_revoked = Signal(name="task_revoked", providing_args={"request", "terminated", "signum", "expired"})
#: The worker got a message of unknown type or an invalid one. sender: the consumer.
task_rejected = Signal(name="task_rejected", providing_args={"message", "exc"})
#: The worker got a message for an unregistered task. sender: the consumer.
task_unknown = Signal(name="task_unknown", providing_args={"message", "exc", "name", "id"})
#: Deprecated in Celery (use after_task_publish); kept so imports work.
task_sent = Signal(
    name="task_sent",
    providing_args={"task_id", "task", "args", "kwargs", "eta", "taskset"},
)

# -- Program: the worker command -------------------------------------------

#: sender: the worker's hostname.
celeryd_init = Signal(name="celeryd_init", providing_args={"instance", "conf", "options"})
#: sender: the worker's hostname.
celeryd_after_setup = Signal(name="celeryd_after_setup", providing_args={"instance", "conf"})

# -- Worker ----------------------------------------------------------------

#: sender: the app; task modules are imported (autodiscovery hooks in here).
import_modules = Signal(name="import_modules")
#: sender: the worker.
worker_init = Signal(name="worker_init")
#: Prefork, in the parent before creating a child process.
worker_before_create_process = Signal(name="worker_before_create_process")
#: Prefork, in each child process after it starts.
worker_process_init = Signal(name="worker_process_init")
#: Prefork, in each child process before it exits; sends ``pid``, ``exitcode``.
worker_process_shutdown = Signal(name="worker_process_shutdown")
#: sender: the consumer; the worker is ready to receive tasks.
worker_ready = Signal(name="worker_ready")
#: sender: the worker; it has shut down.
worker_shutdown = Signal(name="worker_shutdown")
#: sender: the hostname; sends ``sig``, ``how``, ``exitcode``.
worker_shutting_down = Signal(name="worker_shutting_down")
#: sender: the heart; a worker heartbeat was sent.
heartbeat_sent = Signal(name="heartbeat_sent")

# -- Logging ---------------------------------------------------------------

#: If any receiver is connected, the worker does not configure logging itself.
setup_logging = Signal(name="setup_logging", providing_args={"loglevel", "logfile", "format", "colorize"})
#: After the worker configured its logger.
after_setup_logger = Signal(
    name="after_setup_logger",
    providing_args={"logger", "loglevel", "logfile", "format", "colorize"},
)
#: After the worker configured the task logger.
after_setup_task_logger = Signal(
    name="after_setup_task_logger",
    providing_args={"logger", "loglevel", "logfile", "format", "colorize"},
)

# -- Beat ------------------------------------------------------------------

#: sender: the beat service, when beat starts.
beat_init = Signal(name="beat_init")
#: sender: the beat service, when beat starts inside a worker (-B).
beat_embedded_init = Signal(name="beat_embedded_init")

# -- Eventlet pool (kept so imports work; the design has no eventlet pool) --

eventlet_pool_started = Signal(name="eventlet_pool_started")
eventlet_pool_preshutdown = Signal(name="eventlet_pool_preshutdown")
eventlet_pool_postshutdown = Signal(name="eventlet_pool_postshutdown")
eventlet_pool_apply = Signal(name="eventlet_pool_apply", providing_args={"target", "args", "kwargs"})

# -- Programs --------------------------------------------------------------

#: Celery's command line, with user preload options; kept so imports work.
user_preload_options = Signal(name="user_preload_options", providing_args={"app", "options"})
