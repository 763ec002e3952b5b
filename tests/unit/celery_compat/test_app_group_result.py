"""``app.GroupResult`` is a class bound to the app, as in Celery (compat_suite: test_g3_*)."""

from __future__ import annotations

from celery_compat import Celery


def test_app_group_result_is_a_class_with_restore_bound_to_the_app() -> None:
    app = Celery("grouped", set_as_current=False, result_backend="cache+memory://")
    group = app.GroupResult("g-1", [app.AsyncResult("a"), app.AsyncResult("b")])

    assert isinstance(app.GroupResult, type)
    assert isinstance(group, app.GroupResult)
    assert group.app is app
    assert app.GroupResult.restore("g-1") is None
    group.save()
    restored = app.GroupResult.restore("g-1")
    assert [r.id for r in restored.results] == ["a", "b"]
