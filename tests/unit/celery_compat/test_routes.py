"""Routing precedence as Celery: call option > task attribute > task_routes > default."""

from __future__ import annotations

import pytest

from celery_compat import Celery
from celery_compat.exceptions import QueueNotFound
from celery_compat.routes import Router


def make_app(**conf):
    app = Celery("routes", set_as_current=False, broker="memory://")
    app.conf.update(conf)
    return app


def route(app, options, name="proj.tasks.add"):
    return Router(app).route(options, name, (), {})


def test_default_queue_when_nothing_routes() -> None:
    assert route(make_app(), {})["queue"].name == "celery"


def test_task_routes_glob_beats_the_default() -> None:
    app = make_app(task_routes={"proj.tasks.*": {"queue": "math"}})

    assert route(app, {})["queue"].name == "math"
    assert route(app, {}, name="other.task")["queue"].name == "celery"


def test_a_set_option_beats_task_routes_and_none_does_not() -> None:
    app = make_app(task_routes={"proj.tasks.*": {"queue": "math"}})

    assert route(app, {"queue": "urgent"})["queue"].name == "urgent"
    assert route(app, {"queue": None})["queue"].name == "math"


def test_router_callables_and_lists() -> None:
    def by_name(name, args, kwargs, options, task=None, **kw):
        return {"queue": "from-callable"} if name.endswith("add") else None

    app = make_app(task_routes=[by_name, {"*": "fallback"}])

    assert route(app, {})["queue"].name == "from-callable"
    assert route(app, {}, name="x.mul")["queue"].name == "fallback"


def test_missing_queue_refused_when_creation_is_off() -> None:
    app = make_app(task_create_missing_queues=False)

    with pytest.raises(QueueNotFound, match="'nope' missing from task_queues"):
        route(app, {"queue": "nope"})


def test_matches_real_celery_precedence_for_a_decorated_queue() -> None:
    import celery

    real = celery.Celery("real", set_as_current=False)
    real.conf.task_routes = {"*": {"queue": "routed"}}
    real_route = real.amqp.router.route({"queue": "decorated"}, "proj.tasks.add", (), {})

    ours = route(make_app(task_routes={"*": {"queue": "routed"}}), {"queue": "decorated"})

    assert ours["queue"].name == real_route["queue"].name == "decorated"
