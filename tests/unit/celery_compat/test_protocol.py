"""Our v2 task messages against real Celery's, field by field."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from celery_compat.protocol import InvalidMessage, parse, task_message

NOW = dt.datetime(2026, 11, 21, 21, 3, 38, 223390, tzinfo=ZoneInfo("America/Chicago"))


@pytest.fixture(scope="module")
def real_app():
    from celery import Celery

    app = Celery("t", set_as_current=False)
    app.conf.timezone = "America/Chicago"
    return app


def test_headers_body_and_properties_match_celery(real_app) -> None:
    kwargs = dict(
        countdown=10, expires=60, group_id="g", group_index=1, retries=2,
        root_id="root", parent_id="parent", shadow="SHADOW",
    )
    theirs = real_app.amqp.as_task_v2(
        "tid", "tasks.add", args=(2, 2), kwargs={"k": 1}, now=NOW, origin="gen1@vm", **kwargs
    )
    ours = task_message(
        "tasks.add", "tid", (2, 2), {"k": 1}, tz=ZoneInfo("America/Chicago"), now=NOW, origin="gen1@vm",
        callbacks=None, errbacks=None, chain=None, chord=None, **kwargs,
    )

    assert ours.headers == theirs.headers
    assert ours.body == (list(theirs.body[0]), theirs.body[1], theirs.body[2])
    assert ours.properties == theirs.properties
    assert ours.headers["eta"] == "2026-11-21T21:03:48.223390-06:00"


def test_top_level_task_is_its_own_root(real_app) -> None:
    ours = task_message("tasks.add", "tid", now=NOW, origin="o")
    theirs = real_app.amqp.as_task_v2("tid", "tasks.add", now=NOW, origin="o")

    assert ours.headers["root_id"] == "tid" == theirs.headers["root_id"]


def test_naive_eta_is_taken_in_the_app_time_zone() -> None:
    message = task_message("t", "i", eta=dt.datetime(2030, 1, 1, 12, 0), tz=ZoneInfo("Europe/Paris"))

    assert message.headers["eta"] == "2030-01-01T12:00:00+01:00"


def test_countdown_wins_over_eta() -> None:
    message = task_message("t", "i", countdown=5, eta=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc), now=NOW)

    assert message.headers["eta"] == (NOW + dt.timedelta(seconds=5)).isoformat()


def test_custom_headers_go_at_the_top_level() -> None:
    message = task_message("t", "i", extra_headers={"periodic_task_name": "nightly"})

    assert message.headers["periodic_task_name"] == "nightly"


def test_parse_reads_v2_and_v1_bodies() -> None:
    v2 = parse({"task": "t", "id": "i"}, [[1], {"a": 2}, {"callbacks": None}])
    v1 = parse({}, {"task": "t", "id": "i", "args": [1], "kwargs": {"a": 2}, "taskset": "g", "retries": 1})

    assert (v2.args, v2.kwargs) == ([1], {"a": 2}) == (v1.args, v1.kwargs)
    assert (v1.headers["task"], v1.headers["group"], v1.headers["retries"]) == ("t", "g", 1)


@pytest.mark.parametrize("headers, body", [({"task": "t"}, {"not": "a list"}), ({}, [1, 2, 3]), ({"task": "t"}, [1, {}, {}])])
def test_parse_refuses_what_is_not_a_task_message(headers, body) -> None:
    with pytest.raises(InvalidMessage):
        parse(headers, body)
