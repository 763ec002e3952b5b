"""Groups on a real worker (celery-semantics §2) and eagerly."""

from __future__ import annotations

from pathlib import Path

import pytest

from celery_compat import Celery, group
from celery_compat.result import GroupResult
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.canvas.tasks import MyErr, add, boom, fields, sleeper

pytestmark = pytest.mark.django_db(transaction=True)


def test_g1_results_in_declared_order(app: Celery) -> None:
    g = group(sleeper.s(0.3), sleeper.s(0.1), sleeper.s(0.2)).delay()
    assert isinstance(g, GroupResult)
    drain(app)
    assert g.get(timeout=1) == [0.3, 0.1, 0.2]
    assert g.completed_count() == 3
    assert g.ready() and g.successful()


def test_g2_failure(app: Celery) -> None:
    g = group(add.s(1, 1), boom.s()).delay()
    drain(app)
    with pytest.raises(MyErr):
        g.get(timeout=1)
    values = g.get(timeout=1, propagate=False)
    assert values[0] == 2 and isinstance(values[1], MyErr) and values[1].args == ("boom", 42)
    assert g.ready() and not g.successful() and g.failed()
    assert g.completed_count() == 1


def test_g3_restore_only_after_save(app: Celery) -> None:
    g = group(add.s(1, 1), add.s(2, 2)).delay()
    assert GroupResult.restore(g.id, app=app) is None
    g.save()
    drain(app)
    assert GroupResult.restore(g.id, app=app).get(timeout=1) == [2, 4]


def test_g4_children_carry_group_id_and_index_no_group_message(app: Celery) -> None:
    g = group(fields.s(), fields.s(), fields.s()).delay()
    assert Message.objects.count() == 3
    drain(app)
    values = g.get(timeout=1)
    assert [v["group"] for v in values] == [g.id] * 3
    assert [v["group_index"] for v in values] == [0, 1, 2]
    assert [v["id"] for v in values] == [r.id for r in g.results]


def test_g5_link_options_and_skew(app: Celery) -> None:
    with pytest.raises(TypeError):
        group(add.s(1, 1)).apply_async(link=add.s(1))
    with pytest.raises(TypeError):
        group(add.s(1, 1)).apply_async(link_error=add.s(1))
    g = group(add.s(1, 1), add.s(2, 2))
    g.link(add.s(10))
    # As Celery: one clone per task, mutable (an old-style errback gets the task id).
    clones = g.link_error(add.s(20))
    assert g.tasks[0].options["link"] == [add.si(10)]
    assert "link" not in g.tasks[1].options
    assert [t.options["link_error"] for t in g.tasks] == [[add.s(20)], [add.s(20)]]
    assert clones == (add.s(20), add.s(20)) and clones[0] is not clones[1]
    g = group(add.s(1, 1), add.s(2, 2), add.s(3, 3)).skew(start=1, step=10)
    assert [t.options["countdown"] for t in g.tasks] == [1.0, 11.0, 21.0]
    g = group(add.s(1, 1), add.s(2, 2), add.s(3, 3), add.s(4, 4)).skew(start=1, stop=10, step=4)
    assert [t.options["countdown"] for t in g.tasks] == [1.0, 5.0, 9.0, 9.0]  # Celery's fxrange


def test_g5_group_link_error_calls_an_old_style_errback_with_the_failed_id(app: Celery, tmp_path: Path) -> None:
    from tests.canvas.tasks import errback_to_file

    g = group(add.s(1, 1), boom.s())
    g.link_error(errback_to_file.s(str(tmp_path / "errbacks")))
    r = g.delay()
    drain(app)
    assert (tmp_path / "errbacks").read_text().splitlines() == [r.results[1].id]


def test_group_partial_args_go_to_every_task(app: Celery) -> None:
    g = group(add.s(1), add.s(2)).delay(10)
    drain(app)
    assert g.get(timeout=1) == [11, 12]


def test_eager_group(eager_app: Celery) -> None:
    from celery_compat.result import EagerResult

    g = group(add.s(1, 1), add.s(2, 2)).delay()
    assert isinstance(g, GroupResult)
    assert all(isinstance(r, EagerResult) for r in g.results)
    assert g.get() == [2, 4]


def test_l1_several_links_are_sent_as_one_group(app: Celery) -> None:
    from tests.canvas.tasks import echo

    r = add.apply_async((2, 3), link=[echo.s("a"), echo.s("b")])
    drain(app)
    assert r.get(timeout=1) == 5
    [child] = r.children
    assert isinstance(child, GroupResult)
    assert child.get(timeout=1) == [[[5, "a"], {}], [[5, "b"], {}]]
