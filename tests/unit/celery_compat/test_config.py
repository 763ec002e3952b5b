"""Settings: Celery's names and defaults, read the way Celery reads them."""

from __future__ import annotations

from types import SimpleNamespace

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
