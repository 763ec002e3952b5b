"""Settings: Celery's names and defaults, read the way Celery reads them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from celery_compat.config import DEFAULTS, DIFFERENT_FROM_CELERY, Settings, read_object
from celery_compat.exceptions import ImproperlyConfigured


def test_every_default_is_celerys_except_the_documented_ones() -> None:
    from celery.app.defaults import DEFAULTS as CELERY_DEFAULTS

    for name, value in DEFAULTS.items():
        assert name in CELERY_DEFAULTS, f"{name} is not a Celery setting"
        if name in DIFFERENT_FROM_CELERY:
            assert CELERY_DEFAULTS[name] == DIFFERENT_FROM_CELERY[name]
        else:
            assert value == CELERY_DEFAULTS[name], name


def test_namespace_reads_only_prefixed_new_names() -> None:
    django_settings = SimpleNamespace(
        CELERY_TASK_ALWAYS_EAGER=True, CELERY_ALWAYS_EAGER=True, CELERY_BROKER_URL="memory://", DEBUG=True
    )

    values = read_object(django_settings, namespace="CELERY")

    assert values == {"task_always_eager": True, "always_eager": True, "broker_url": "memory://"}
    assert Settings(values).task_always_eager is True


def test_mixing_old_and_new_names_without_namespace_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="Cannot mix new and old"):
        read_object(SimpleNamespace(task_always_eager=True, CELERY_ALWAYS_EAGER=True))


def test_settings_fall_back_to_defaults_and_name_unknown_ones() -> None:
    conf = Settings({"task_default_queue": "work"})

    assert conf.task_default_queue == "work" and conf.task_serializer == "json"
    assert conf["worker_prefetch_multiplier"] == 4
    with pytest.raises(AttributeError, match="no setting 'task_default_qeue'"):
        conf.task_default_qeue  # noqa: B018


def _warnings_of_binding(make_app: Any) -> list[str]:
    import warnings

    app = make_app()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app.task(queue="q", priority=3, shared=False, name="w.routed")(_noop)
        app.task(shared=False, name="w.plain")(_noop)
        for _ in range(2):  # the app's task registry binds them (once)
            app.tasks["w.routed"].run, app.tasks["w.plain"].run
    return [f"{type(w.message).__name__}: {w.message}" for w in caught]


def _noop() -> None:
    pass


def test_routing_task_attributes_warn_as_celery_5_7() -> None:
    """queue=/priority= on a task: Celery 5.7 warns once per attribute (use task_routes); so do we, word for word."""
    import celery

    from celery_compat import Celery

    ours = _warnings_of_binding(lambda: Celery("ours", set_as_current=False))
    theirs = _warnings_of_binding(lambda: celery.Celery("theirs", set_as_current=False))
    # Celery may warn twice when an app of an earlier test bound the classes again.
    assert len(ours) == 2 and set(ours) == set(theirs), (ours, theirs)
    assert "The 'queue' task attribute is deprecated" in ours[0]
