"""One runtime per implementation: an app with the zoo, a worker, the modules.

A scenario sees only the :class:`Runtime`: ``rt.app``, ``rt.t`` (the zoo),
``rt.exceptions``, ``rt.states``, ``rt.signals``, ``rt.allow_join_result``.
It never imports ``celery`` or ``celery_compat`` itself, so it is written
once and runs on both.

* ``celery``: real Celery and its real worker (``celery.contrib.testing.
  worker.start_worker``, threads pool) on a stock broker and result backend:
  Redis when reachable (it supports chords), else kombu's filesystem
  transport with Celery's ``file://`` backend (chords through
  ``celery.chord_unlock``). Our transport is not involved, so a bug in it
  cannot hide on both sides.
* ``celery_django``: real Celery, worker and client, over our ``django://``
  transport, with the reference's result backend: only the transport is ours.
* ``celery_compat``: ``celery_compat.testing.start_worker`` (threads pool) on
  ``django://`` with the ``django-db`` backend, on the test database. It is
  celery_compat's real worker (``WorkController``: consumer, threads pool,
  acks, revokes, remote control), run in a thread of the test process, as
  Celery's own ``start_worker`` runs its worker.
"""

from __future__ import annotations

import os
import socket
import time
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable
from urllib.parse import urlsplit

from compat_suite import zoo

#: ``celery``: real Celery on a stock broker; ``celery_django``: real Celery
#: (worker and client) over our ``django://`` transport; ``celery_compat``: ours
IMPLEMENTATIONS = ["celery", "celery_django", "celery_compat"]
#: every queue name of this run starts with it: runs sharing a Redis never meet
#: (worker processes of the suite get the parent's, ``procworker.py``)
PREFIX = os.environ.get("COMPAT_PREFIX") or f"compat-{uuid.uuid4().hex[:8]}"
WORKER_CONCURRENCY = 4


def redis_url() -> str | None:
    """The reference's Redis (``COMPAT_REDIS_URL``), or None when unset or unreachable."""
    url = os.environ.get("COMPAT_REDIS_URL", "redis://127.0.0.1:6379/0")
    if url in ("", "none"):
        return None
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=0.5).close()
    except OSError:
        return None
    return url


def filesystem_reference() -> tuple[str, str, dict[str, Any]]:
    """Broker, result backend and transport options of the reference without Redis.

    kombu's ``filesystem://`` transport (fanout too, so revokes and
    ``inspect`` work; ``compatfs://`` writes its files atomically, see
    ``fs_transport.py``) and Celery's ``file://`` result backend, which has no
    native chord support: chords go through ``celery.chord_unlock``, as on
    any backend without it. Both in a fresh directory of this run.
    """
    if os.environ.get("COMPAT_REFERENCE_DIR"):  # a worker process of this run
        root = Path(os.environ["COMPAT_REFERENCE_DIR"])
    else:
        root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-reference-"))
        for sub in ("queues", "processed", "control", "results"):
            (root / sub).mkdir()
        os.environ["COMPAT_REFERENCE_DIR"] = str(root)
    options = {
        "data_folder_in": str(root / "queues"), "data_folder_out": str(root / "queues"),
        "processed_folder": str(root / "processed"), "control_folder": str(root / "control"),
        "polling_interval": 0.05,
    }
    import compat_suite.fs_transport  # noqa: F401  registers compatfs:// (atomic message files)

    return "compatfs://", f"file://{root / 'results'}", options


def close_app(app: Any) -> None:
    """Close an app's broker pools and its result backend's connections.

    A stopped runtime must not leave Redis sockets to the garbage collector
    (``ResourceWarning`` in whichever scenario runs next).
    """
    # Real Celery keeps a Redis backend per thread (not thread safe): only
    # this thread's can be closed here; the worker threads' sockets are left
    # to the collector (conftest ignores their ResourceWarning).
    backend = getattr(app, "_backend", None)
    try:
        consumer = getattr(backend, "result_consumer", None)
        if consumer is not None and hasattr(consumer, "stop"):
            consumer.stop()
        client = getattr(backend, "__dict__", {}).get("client")
        if client is not None and hasattr(client, "connection_pool"):
            client.connection_pool.disconnect()
    finally:
        # Real Celery's app.close() only drops its reference to kombu's
        # connection pool, leaving its connections open: on django:// one
        # that consumed (a control.inspect() reply) keeps its heartbeat
        # thread, which then outlives the test database and beats into it
        # at session end. kombu keeps one pool per broker URL for the whole
        # process: reset() closes them all and forgets them, so this app, if
        # used again (the wire scenarios), and the next get new ones.
        if getattr(app, "_pool", None) is not None:
            from kombu import pools

            pools.reset()
            app._pool = None
            amqp = app.__dict__.get("amqp")
            if amqp is not None:
                amqp._producer_pool = None
        if hasattr(app, "close"):
            app.close()


class Runtime:
    """An implementation's app, zoo, modules and running worker."""

    name: str
    reference_broker: str = ""

    def __init__(self) -> None:
        self.stack = ExitStack()
        self.app: Any = None
        self.t: SimpleNamespace = SimpleNamespace()
        #: every app made, closed at stop
        self.apps: list[Any] = []

    # -- what scenarios use ----------------------------------------------
    def q(self, name: str) -> str:
        """A queue name of this run and runtime (``unq`` strips the prefix again).

        Per runtime: ``celery_django`` and ``celery_compat`` share one
        ``django://`` database and must never consume each other's tasks.
        """
        return f"{PREFIX}-{self.name}-{name}"

    def unq(self, name: str | None) -> str | None:
        prefix = f"{PREFIX}-{self.name}-"
        return name[len(prefix):] if name and name.startswith(prefix) else name

    def base_conf(self) -> dict[str, Any]:
        return {
            "task_default_queue": self.q("default"),
            "task_routes": {"zoo.routed_conf": {"queue": self.q("routes")},
                            "zoo.routed_both": {"queue": self.q("routes")}},
            "worker_hijack_root_logger": False,
            "broker_connection_retry_on_startup": True,
            "result_extended": False,
        }

    def queues(self) -> list[str]:
        return [self.q(n) for n in ("default", "deco", "routes", "explicit")]

    def make_app(self, **conf: Any) -> tuple[Any, SimpleNamespace]:
        """A second app with the zoo (for eager mode and the like); no worker."""
        app = self.new_app()
        self.apps.append(app)
        app.conf.update(self.base_conf())
        app.conf.update(conf)
        tasks = zoo.register(app, self)
        return app, tasks

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out after {timeout}s waiting for {what}")
            time.sleep(0.02)

    def check(self, observed: Any, expected: Any) -> None:
        """Record ``observed`` for the parity table, then assert it is ``expected``.

        ``expected`` is Celery's behaviour, or a ``differences.deliberate(...)``
        naming a listed difference with one value per implementation.
        """
        from compat_suite import parity
        from compat_suite.differences import Deliberate

        name = None
        if isinstance(expected, Deliberate):
            name, expected = expected.name, expected.for_impl(self.name)
        parity.record(self.node, self.name, observed, name)
        assert observed == expected, f"{self.name}: observed {observed!r}, Celery's behaviour is {expected!r}"

    @property
    def hostname(self) -> str:
        """The worker's node name, one per runtime.

        Several workers of this process share one broker (``django://``):
        with the same name they would share one pidbox queue, and a
        broadcast (revoke) would reach only one of them.
        """
        return f"{self.name}-{os.getpid()}@{socket.gethostname()}"

    def start(self) -> None:
        from compat_suite import parity

        parity.REFERENCE_SETUP[self.name] = self.reference_broker
        self.app, self.t = self.make_app()
        self.app.finalize()
        self.start_worker()

    def stop(self) -> None:
        self.stack.close()
        for app in self.apps:
            close_app(app)


class CeleryRuntime(Runtime):
    name = "celery"

    def __init__(self) -> None:
        super().__init__()
        import celery
        import celery.exceptions
        import celery.signals
        import celery.states
        from celery.result import allow_join_result

        self.celery = celery
        self.exceptions = celery.exceptions
        self.states = celery.states
        self.signals = celery.signals
        self.allow_join_result = allow_join_result
        redis = redis_url()
        self.transport_options: dict[str, Any] = {}
        if redis:
            self.broker = self.backend = redis
            self.reference_broker = "redis"
        else:
            self.broker, self.backend, self.transport_options = filesystem_reference()
            self.reference_broker = "kombu filesystem transport (compatfs://) + file:// backend"

    def new_app(self) -> Any:
        import celery.contrib.testing.tasks  # noqa: F401  registers celery.ping

        app = self.celery.Celery("compat_ref", broker=self.broker, backend=self.backend,
                                 set_as_current=False)
        if self.transport_options:
            app.conf.broker_transport_options = self.transport_options
        return app

    def start_worker(self) -> None:
        from celery.contrib.testing.worker import start_worker

        self.worker = self.stack.enter_context(start_worker(
            self.app, pool="threads", concurrency=WORKER_CONCURRENCY, perform_ping_check=True,
            loglevel="WARNING", queues=self.queues(), shutdown_timeout=30, hostname=self.hostname,
        ))


class CeleryOnDjangoRuntime(CeleryRuntime):
    """Real Celery, worker and client, with ``django://`` as its broker.

    The result backend stays Celery's own (the reference's Redis or
    ``file://``), so only the transport is ours: a transport bug shows as
    a difference between ``celery`` and ``celery_django``.
    """

    name = "celery_django"

    def __init__(self) -> None:
        super().__init__()
        import kombu_transport_django  # noqa: F401  registers django:// with kombu

        self.broker = "django://"
        self.transport_options = {}
        self.reference_broker = "django:// + " + ("redis" if redis_url() else "file://") + " backend"

    def new_app(self) -> Any:
        app = super().new_app()
        app.main = "compat_ref_django"
        return app


class CompatRuntime(Runtime):
    name = "celery_compat"
    reference_broker = "django:// + django-db backend"

    def __init__(self) -> None:
        super().__init__()
        import celery_compat
        import celery_compat.exceptions
        import celery_compat.signals
        import celery_compat.states
        from celery_compat.result import allow_join_result

        self.celery = celery_compat
        self.exceptions = celery_compat.exceptions
        self.states = celery_compat.states
        self.signals = celery_compat.signals
        self.allow_join_result = allow_join_result

    def new_app(self) -> Any:
        return self.celery.Celery("compat_shim", broker="django://", backend="django-db",
                                  set_as_current=False)

    def start_worker(self) -> None:
        from celery_compat.testing import start_worker

        self.worker = self.stack.enter_context(start_worker(
            self.app, pool="threads", concurrency=WORKER_CONCURRENCY, perform_ping_check=True,
            queues=self.queues(), shutdown_timeout=30, hostname=self.hostname,
        ))


RUNTIMES = {"celery": CeleryRuntime, "celery_django": CeleryOnDjangoRuntime, "celery_compat": CompatRuntime}

