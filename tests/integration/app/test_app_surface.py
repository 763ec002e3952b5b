"""Parts of the app and task surface of issue 3 not covered elsewhere.

``on_after_configure``/``on_after_finalize``, ``set_current``/``set_default``,
``register_task`` with a class-based task, ``apply_async_on_commit``, the
``throws`` option, and the ``rate_limit`` option carried to the worker.
Each is checked against real Celery's behaviour where Celery runs without
a broker.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import pytest
from django.db import transaction

from celery_compat import Celery, Task, _state, current_app, shared_task, states
from celery_compat.testing import drain
from kombu_transport_django.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


class Unwelcome(Exception):
    """Raised by ``expected_failure``: listed in its ``throws``."""


@shared_task(throws=(Unwelcome,))
def expected_failure(kind: str) -> None:
    raise Unwelcome(kind) if kind == "expected" else KeyError(kind)


@shared_task
def double(x: int) -> int:
    return 2 * x


class Multiply(Task):
    """A class-based task, registered with ``app.register_task``."""

    name = "surface.multiply"

    def run(self, x: int, y: int) -> int:
        return x * y


@pytest.fixture
def restore_apps() -> Iterator[None]:
    previous_current = getattr(_state._tls, "current_app", None)
    previous_default = _state._default_app
    yield
    _state._tls.current_app = previous_current
    _state._default_app = previous_default


@pytest.fixture
def app(restore_apps: None) -> Celery:
    app = Celery("surface")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.worker_hijack_root_logger = False
    return app


def test_on_after_configure_once_with_the_settings_then_on_after_finalize(restore_apps: None) -> None:
    for impl in ("celery", "celery_compat"):
        module = __import__(impl)
        app = module.Celery("signals", set_as_current=False)
        app.config_from_object("django.conf:settings", namespace="CELERY")
        seen: list[Any] = []

        def configured(sender: Any = None, source: Any = None, **kwargs: Any) -> None:
            seen.append(("configure", sender, source["task_serializer"]))

        def finalized(sender: Any = None, **kwargs: Any) -> None:
            seen.append(("finalize", sender))

        app.on_after_configure.connect(configured)
        app.on_after_finalize.connect(finalized)
        assert seen == [], impl  # nothing at import or connect time
        assert app.conf.task_serializer == "json"
        app.conf.result_serializer  # noqa: B018  a second read configures nothing
        app.finalize()
        app.finalize()
        assert seen == [("configure", app, "json"), ("finalize", app)], impl


def test_set_current_and_set_default(restore_apps: None) -> None:
    first = Celery("first", set_as_current=False)
    second = Celery("second", set_as_current=False)

    first.set_current()
    assert current_app.main == "first" and _state.get_current_app() is first
    second.set_default()
    assert _state.get_current_app() is first  # the current app wins over the default
    _state._tls.current_app = None
    assert _state.get_current_app() is second and current_app.main == "second"


def test_shared_task_binds_to_the_current_app(app: Celery) -> None:
    app.set_current()
    assert double.app is app
    assert double.delay(21).id
    assert Message.objects.get().task_name == double.name


def test_register_task_with_a_class(app: Celery) -> None:
    task = app.register_task(Multiply)

    assert task.name == "surface.multiply" and app.tasks["surface.multiply"] is task
    assert isinstance(task, Multiply) and task.app is app
    result = task.delay(6, 7)
    drain(app)
    assert result.get(timeout=1) == 42


def test_register_task_names_an_anonymous_class_like_celery(app: Celery) -> None:
    from celery import Celery as RealCelery
    from celery import Task as RealTask

    class Anonymous(Task):
        def run(self) -> str:
            return "ok"

    class RealAnonymous(RealTask):
        def run(self) -> str:
            return "ok"

    real = RealCelery("surface", set_as_current=False)
    assert app.register_task(Anonymous).name == real.register_task(RealAnonymous).name.replace("RealA", "A")


def test_apply_async_on_commit_publishes_only_after_commit(app: Celery) -> None:
    app.set_current()
    with transaction.atomic():
        assert double.apply_async_on_commit((1,), countdown=0, priority=3) is None
        assert not Message.objects.exists()
    row = Message.objects.get()
    assert (row.task_name, row.priority) == (double.name, 3)

    with pytest.raises(RuntimeError), transaction.atomic():
        double.apply_async_on_commit((2,))
        raise RuntimeError("rolled back")
    assert Message.objects.count() == 1  # nothing from the rolled-back one


def test_throws_logs_an_expected_error_without_traceback(app: Celery, caplog: pytest.LogCaptureFixture) -> None:
    app.set_current()
    caplog.set_level(logging.INFO, logger="celery.app.trace")
    expected, unexpected = expected_failure.delay("expected"), expected_failure.delay("other")

    drain(app)

    assert expected.state == unexpected.state == states.FAILURE
    records = {r.getMessage().split(": ")[0]: r for r in caplog.records if r.name == "celery.app.trace"}
    quiet = records[f"Task {expected_failure.name}[{expected.id}] raised expected"]
    loud = records[f"Task {expected_failure.name}[{unexpected.id}] raised unexpected"]
    assert (quiet.levelno, quiet.exc_info) == (logging.INFO, None)
    assert loud.levelno == logging.ERROR and loud.exc_info is not None


def test_rate_limit_option_and_default(app: Celery) -> None:
    app.conf.task_default_rate_limit = "10/m"

    @app.task(rate_limit="5/s")
    def limited() -> None: ...

    @app.task
    def defaulted() -> None: ...

    assert (limited.rate_limit, defaulted.rate_limit) == ("5/s", "10/m")


def test_retry_policy_is_merged_over_task_publish_retry_policy_as_celery(app: Celery) -> None:
    from celery import Celery as RealCelery
    from celery import signals as real_signals

    import kombu_transport_django  # noqa: F401  registers django:// for real Celery
    from celery_compat import signals

    seen: dict[str, Any] = {}

    def ours(sender: Any = None, retry_policy: Any = None, **kwargs: Any) -> None:
        seen["celery_compat"] = retry_policy

    def theirs(sender: Any = None, retry_policy: Any = None, **kwargs: Any) -> None:
        seen["celery"] = retry_policy

    real = RealCelery("real-client", broker="django://", set_as_current=False)
    policy = {"max_retries": 1, "interval_start": 0.5}
    signals.before_task_publish.connect(ours)
    real_signals.before_task_publish.connect(theirs)
    try:
        app.send_task("surface.anything", retry=True, retry_policy=policy)
        with real.connection_for_write() as conn:
            real.send_task("surface.anything", retry=True, retry_policy=policy, connection=conn)
    finally:
        signals.before_task_publish.disconnect(ours)
        real_signals.before_task_publish.disconnect(theirs)
        real.close()
    assert seen["celery_compat"] == seen["celery"]
    assert seen["celery"]["max_retries"] == 1 and seen["celery"]["interval_start"] == 0.5
    assert Message.objects.count() == 2


def test_a_project_that_never_builds_an_app_works_from_its_settings(restore_apps: None) -> None:
    _state._tls.current_app = None
    _state._default_app = None

    result = double.delay(4)

    fallback = _state.get_current_app()
    assert double.app is fallback and fallback.main == "default"
    assert fallback.conf.broker_url == "django://"
    assert type(fallback.backend).__module__ == "celery_compat.backends.database"
    assert Message.objects.get().task_id == result.id
    drain(fallback)
    assert result.get(timeout=1) == 8


def test_control_purge_deletes_the_waiting_messages(app: Celery) -> None:
    app.set_current()
    for n in range(3):
        double.delay(n)

    assert app.control.purge() == 3
    assert not Message.objects.exists()
    assert app.control.purge() == 0


def nothing() -> None:
    """A task body for the publish-only tests."""


def test_task_level_publish_options_as_celery(app: Celery) -> None:
    """``expires``, ``priority``, ``time_limit``, ``soft_time_limit``, ``queue``, ``serializer``."""
    import json

    from celery import Celery as RealCelery

    import kombu_transport_django  # noqa: F401  registers django:// for real Celery

    options = {"expires": 60, "priority": 7, "time_limit": 10, "soft_time_limit": 5, "queue": "opts",
               "serializer": "pickle"}
    real = RealCelery("real-client", broker="django://", set_as_current=False)
    ours = app.task(name="surface.opts", **options)(nothing)
    theirs = real.task(name="surface.opts", **options)(nothing)
    try:
        ours.delay()
        with real.connection_for_write() as conn:
            theirs.apply_async(connection=conn)
    finally:
        real.close()

    seen = []
    for row in Message.objects.order_by("id"):
        payload = json.loads(row.payload)
        headers = payload["headers"]
        seen.append((row.queue, row.priority, payload["content-type"], headers["timelimit"],
                     headers["expires"] is not None))
    assert seen[0] == seen[1] == ("opts", 7, "application/x-python-serialize", [10, 5], True)


@shared_task(bind=True)
def spawn_child(self: Any, x: int) -> str:
    """Publishes ``double(x)`` from inside the task: its child."""
    return double.delay(x).id


@shared_task
def always_fails(x: int) -> None:
    raise ValueError(f"bad {x}")


def test_async_result_surface_on_the_database_backend(app: Celery) -> None:
    app.conf.result_extended = True
    app.set_current()
    parent, failing = spawn_child.delay(5), always_fails.delay(7)
    assert (parent.state, parent.status, parent.ready(), parent.result) == (states.PENDING,) * 2 + (False, None)

    drain(app)

    child_id = parent.wait(timeout=1, interval=0.01)  # wait is get
    assert (parent.successful(), parent.failed(), parent.ready()) == (True, False, True)
    assert (parent.name, parent.args, parent.kwargs) == (spawn_child.name, "(5,)", "{}")  # reprs, as stored
    assert parent.worker.startswith("gen") and parent.date_done is not None and parent.date_done.tzinfo is not None
    assert [c.id for c in parent.children] == [child_id]
    assert app.AsyncResult(child_id).get(timeout=1) == 10

    assert (failing.state, failing.failed(), failing.successful()) == (states.FAILURE, True, False)
    assert isinstance(failing.result, ValueError) and failing.info is failing.result
    assert "ValueError: bad 7" in failing.traceback
    with pytest.raises(ValueError, match="bad 7"):
        failing.get(timeout=1)
    assert isinstance(failing.get(timeout=1, propagate=False), ValueError)

    parent.forget()
    assert app.AsyncResult(parent.id).state == states.PENDING


def test_broker_backend_and_include_arguments(restore_apps: None) -> None:
    import sys

    sys.modules.pop("tests.integration.app.included", None)
    app = Celery("args", broker="django://", backend="django-db", include=["tests.integration.app.included"],
                 set_as_current=False)
    assert (app.conf.broker_url, app.conf.result_backend) == ("django://", "django-db")
    assert "tests.integration.app.included" not in sys.modules  # nothing before finalize

    assert app.tasks["surface.included"].name == "surface.included"
    assert "tests.integration.app.included" in sys.modules
    result = app.send_task("surface.included")
    drain(app)
    assert result.get(timeout=1) == "included"


def test_exchange_and_routing_key_options_route_as_celery(app: Celery) -> None:
    """``apply_async(exchange=, routing_key=)`` through a named exchange's bindings."""
    from celery import Celery as RealCelery
    from kombu import Exchange, Queue

    import kombu_transport_django  # noqa: F401  registers django:// for real Celery

    queues = (Queue("celery"), Queue("routed-a", Exchange("rx", type="direct"), routing_key="ka"),
              Queue("routed-b", Exchange("rx", type="direct"), routing_key="kb"))
    real = RealCelery("real-client", broker="django://", set_as_current=False)
    for one in (app, real):
        one.conf.task_queues = queues
    ours = app.task(name="surface.routed")(nothing)
    theirs = real.task(name="surface.routed")(nothing)
    try:
        with app.connection_for_write() as conn:
            for queue in queues:
                queue(conn.default_channel).declare()
        for key in ("ka", "kb"):
            ours.apply_async(exchange="rx", routing_key=key)
            with real.connection_for_write() as conn:
                theirs.apply_async(exchange="rx", routing_key=key, connection=conn)
        ours.apply_async(routing_key="ignored")  # no exchange: the default queue, as Celery
        with real.connection_for_write() as conn:
            theirs.apply_async(routing_key="ignored", connection=conn)
    finally:
        real.close()
    assert list(Message.objects.order_by("id").values_list("queue", flat=True)) == [
        "routed-a", "routed-a", "routed-b", "routed-b", "celery", "celery"]
