"""get_task_logger, get_logger and TaskFormatter, against celery.utils.log and celery.app.log."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from celery_compat.utils import log


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Records reaching a handler on ``celery.task``, as a LOGGING config would attach it."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    seen: list[logging.LogRecord] = []
    handler = Collect(level=logging.DEBUG)
    parent = logging.getLogger("celery.task")
    parent.addHandler(handler)
    previous = parent.level
    parent.setLevel(logging.DEBUG)
    yield seen
    parent.removeHandler(handler)
    parent.setLevel(previous)


def test_loggers_have_celerys_names() -> None:
    assert log.base_logger is logging.getLogger("celery")
    assert log.task_logger is logging.getLogger("celery.task")
    assert log.worker_logger is logging.getLogger("celery.worker")
    assert log.task_logger.parent is log.base_logger


def test_task_logger_is_the_named_logger_under_celery_task(records: list[logging.LogRecord]) -> None:
    logger = log.get_task_logger("compat_tests.app.tasks")
    assert logger is logging.getLogger("compat_tests.app.tasks")
    assert logger.parent is log.task_logger
    logger.info("hello %s", "world")
    assert [r.getMessage() for r in records] == ["hello world"]


def test_task_loggers_keep_the_parent_chosen_by_celery(real_log: ModuleType) -> None:
    for name in ["compat_tests.parity.a", "compat_tests_parity_root", "celery.compat_tests.x"]:
        ours = log.get_task_logger(name)
        parent = ours.parent
        theirs = real_log.get_task_logger(name)
        assert theirs is ours and theirs.parent is parent, name


def test_get_logger_places_loggers_like_celery(real_log: ModuleType) -> None:
    logging.getLogger("compat_tests_pkg")  # an existing parent that is not the root
    for name in ["compat_tests_pkg.module", "compat_tests_toplevel", "celery.compat_tests.worker"]:
        ours = log.get_logger(name)
        parent = ours.parent
        assert real_log.get_logger(name).parent is parent, name
    assert log.get_logger("compat_tests_pkg.module").parent is log.base_logger
    assert log.get_logger("compat_tests_toplevel").parent is logging.root


def test_loggers_get_a_null_handler_so_unconfigured_projects_stay_quiet() -> None:
    logger = log.get_task_logger("compat_tests.quiet")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)


@pytest.mark.parametrize("name", ["celery", "celery.task"])
def test_reserved_names_are_refused_like_celery(real_log: ModuleType, name: str) -> None:
    with pytest.raises(RuntimeError) as theirs:
        real_log.get_task_logger(name)
    with pytest.raises(RuntimeError, match=f"Logger name '{name}' is reserved!") as ours:
        log.get_task_logger(name)
    assert str(ours.value) == str(theirs.value)


def make_record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("compat_tests.fmt", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.__dict__.update(extra)
    return record


FORMAT = "%(levelname)s %(task_name)s[%(task_id)s]: %(message)s"


def test_task_formatter_outside_a_task_matches_celery() -> None:
    real = importlib.import_module("celery.app.log").TaskFormatter(FORMAT, use_color=False)
    ours = log.TaskFormatter(FORMAT, use_color=False)
    assert ours.format(make_record()) == real.format(make_record()) == "INFO ???[???]: hello you"
    assert ours.format(make_record(task_name="given", task_id="1")) == "INFO given[1]: hello you"


def test_task_formatter_inside_a_task_shows_its_name_and_id(monkeypatch: pytest.MonkeyPatch) -> None:
    task = SimpleNamespace(name="tasks.add", request=SimpleNamespace(id="abc-123"))
    monkeypatch.setattr(log, "_current_task_getter", lambda: task)
    formatter = log.TaskFormatter(FORMAT)
    assert formatter.format(make_record(task_name="stale", task_id="0")) == "INFO tasks.add[abc-123]: hello you"


def test_no_task_is_current_until_the_task_modules_say_so() -> None:
    assert log._current_task_getter() is None
