"""§8 ignore_result, §14 link/link_error, §18 request fields, routing, signals, on_commit."""

from __future__ import annotations

import time

import pytest

from compat_suite.observe import ids, normal
from compat_suite.zoo import NOTES


def k_(impl, name):
    return f"{name}-{impl.name}-{time.time_ns()}"


def test_i1_ignore_result_task_attribute(impl):
    k = k_(impl, "i1")
    r = impl.t.ignored.delay(k)
    impl.wait_for("ran", lambda: NOTES.get(k))
    time.sleep(0.3)
    impl.check([r.ignored, r.get(timeout=1), impl.app.AsyncResult(r.id).state], [True, None, "PENDING"])


def test_i1_ignore_result_per_call(impl):
    k = k_(impl, "i1c")
    r = impl.t.mark.apply_async((k, "x"), ignore_result=True)
    impl.wait_for("ran", lambda: NOTES.get(k))
    time.sleep(0.3)
    impl.check([r.ignored, r.get(timeout=1), impl.app.AsyncResult(r.id).state], [True, None, "PENDING"])


def test_l1_link_gets_the_result_prepended(impl):
    n = time.time_ns()
    r = impl.t.add.apply_async((n, 5), link=impl.t.mark.s("linked"))
    r.get(timeout=30)
    # mark(key, value) called as mark(result, "linked")
    impl.wait_for("link ran", lambda: NOTES.get(n + 5))
    impl.check(NOTES[n + 5], ["linked"])


def test_l1_link_appears_in_children(impl):
    r = impl.t.add.apply_async((2, 3), link=impl.t.echo.s("linked"))
    r.get(timeout=30)
    children = impl.wait_for("children", lambda: r.children)
    impl.check([type(children[0]).__name__, children[0].get(timeout=30)],
               ["AsyncResult", [[5, "linked"], {}]])


def test_l1_immutable_link_gets_no_argument(impl):
    k = k_(impl, "l1i")
    impl.t.add.apply_async((2, 3), link=impl.t.mark.si(k, "immutable")).get(timeout=30)
    impl.wait_for("link ran", lambda: NOTES.get(k))
    impl.check(NOTES[k], ["immutable"])


def test_l1_links_run_only_on_success(impl):
    k = k_(impl, "l1f")
    impl.t.boom.apply_async(link=impl.t.mark.si(k, "should-not")).get(propagate=False, timeout=30)
    time.sleep(0.5)
    impl.check(NOTES.get(k, []), [])


def test_l2_errbacks_new_style_in_process_old_style_published(impl):
    k = k_(impl, "l2")
    r = impl.t.boom_key.apply_async((k,), link_error=[impl.t.errback_new.s(), impl.t.errback_old.s()])
    r.get(propagate=False, timeout=30)
    impl.wait_for("new errback", lambda: NOTES.get(k))
    impl.wait_for("old errback", lambda: r.id in NOTES.get("errback_old", []))
    impl.check(ids(NOTES[k], {r.id: "failed", k: "key"}), [["new", "<failed>", "MyErr", ["boom", "<key>"]]])


def test_l2_errback_not_called_on_retry(impl):
    k = k_(impl, "l2r")
    r = impl.t.retry_then_ok.apply_async((k, 1), link_error=impl.t.errback_old.s())
    value = r.get(timeout=30)
    time.sleep(0.3)
    impl.check([value, r.id in NOTES.get("errback_old", [])], [1, False])


def test_request_fields_of_a_top_level_task(impl):
    r = impl.t.request_info.delay(1, k=2)
    info = ids(r.get(timeout=30), {r.id: "self"})
    impl.check({key: info[key] for key in ("id", "root_id", "parent_id", "retries", "is_eager", "group",
                                          "eta", "expires", "args", "kwargs", "called_directly")},
               {"id": "<self>", "root_id": "<self>", "parent_id": None, "retries": 0, "is_eager": False,
                "group": None, "eta": False, "expires": False, "args": [1], "kwargs": {"k": 2},
                "called_directly": False})


def test_request_eta_and_expires_are_set(impl):
    r = impl.t.request_info.apply_async(countdown=0.2, expires=60)
    info = r.get(timeout=30)
    impl.check([info["eta"], info["expires"]], [True, True])


def test_subtask_gets_parent_and_root_ids_and_is_a_child(impl):
    r = impl.t.spawner.delay()
    child_id = r.get(timeout=30)
    child = impl.app.AsyncResult(child_id)
    info = ids(child.get(timeout=30), {r.id: "parent", child_id: "child"})
    children = [c.id for c in (r.children or [])]
    impl.check([info["id"], info["parent_id"], info["root_id"], ids(children, {child_id: "child"})],
               ["<child>", "<parent>", "<parent>", ["<child>"]])


def test_custom_headers_reach_the_request(impl):
    r = impl.t.request_info.apply_async(headers={"custom": "h"})
    info = r.get(timeout=30)
    impl.check([info["headers"], info["custom"]], [{"custom": "h"}, "h"])


def test_shadow_changes_the_request_not_the_task(impl):
    r = impl.t.request_info.apply_async(shadow="shadowed")
    info = r.get(timeout=30)
    impl.check([info["shadow"], r.state], ["shadowed", "SUCCESS"])


@pytest.mark.parametrize(("task", "options", "queue"), [
    ("routed_deco", {"queue": "explicit"}, "explicit"),
    ("routed_both", {}, "deco"),
    ("routed_deco", {}, "deco"),
    ("routed_conf", {}, "routes"),
    ("request_info", {}, "default"),
], ids=["explicit-beats-decorator", "decorator-beats-task_routes", "decorator", "task_routes", "default"])
def test_routing_precedence(impl, task, options, queue):
    opts = {"queue": impl.q(options["queue"])} if "queue" in options else {}
    value = getattr(impl.t, task).apply_async(**opts).get(timeout=30)
    if task == "request_info":
        value = impl.unq(value["routing_key"])
    impl.check(value, queue)


def test_delay_on_commit_publishes_after_commit_only(impl):
    from django.db import transaction

    k = k_(impl, "oc")
    published = []

    def before(sender=None, body=None, **kw):
        published.append(sender)

    impl.signals.before_task_publish.connect(before, weak=False)
    try:
        with transaction.atomic():
            returned = impl.t.mark.delay_on_commit(k, "committed")
            inside = list(published)
    finally:
        impl.signals.before_task_publish.disconnect(before)
    try:
        with transaction.atomic():
            impl.t.mark.delay_on_commit(k, "rolled-back")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    impl.wait_for("committed task", lambda: NOTES.get(k))
    time.sleep(0.5)
    impl.check([returned, inside, published[:1], NOTES[k]], [None, [], ["zoo.mark"], ["committed"]])


def test_signals_order_on_success(impl):
    seen = []
    names = ["task_prerun", "task_success", "task_postrun", "task_received"]
    receivers = []
    for name in names:
        def receiver(sender=None, _name=name, **kw):
            task_id = kw.get("task_id") or getattr(kw.get("request"), "id", None) or \
                (getattr(sender, "request", None) and sender.request.id)
            seen.append((_name, task_id))
        getattr(impl.signals, name).connect(receiver, weak=False)
        receivers.append((name, receiver))
    try:
        r = impl.t.add.delay(1, 1)
        r.get(timeout=30)
        impl.wait_for("postrun", lambda: ("task_postrun", r.id) in seen)
    finally:
        for name, receiver in receivers:
            getattr(impl.signals, name).disconnect(receiver)
    impl.check([n for n, i in seen if i == r.id], ["task_received", "task_prerun", "task_success", "task_postrun"])


def test_signals_order_on_failure(impl):
    seen = []
    receivers = []
    for name in ["task_prerun", "task_failure", "task_postrun"]:
        def receiver(sender=None, _name=name, task_id=None, **kw):
            seen.append((_name, task_id, normal(kw.get("exception")) if _name == "task_failure" else None))
        getattr(impl.signals, name).connect(receiver, weak=False)
        receivers.append((name, receiver))
    try:
        r = impl.t.boom.delay()
        r.get(propagate=False, timeout=30)
        impl.wait_for("postrun", lambda: any(n == "task_postrun" and i == r.id for n, i, _ in seen))
    finally:
        for name, receiver in receivers:
            getattr(impl.signals, name).disconnect(receiver)
    impl.check([(n, e) for n, i, e in seen if i == r.id],
               [("task_prerun", None), ("task_failure", ("compat_suite.errors.MyErr", ("boom", 42))),
                ("task_postrun", None)])


def test_signal_arguments_of_a_run(impl):
    """What task_prerun/postrun/success/failure receivers are given: args, kwargs, retval, state, result."""
    seen = {}
    receivers = []

    def keep(name):
        def receiver(sender=None, **kw):
            task_id = kw.get("task_id") or (sender.request.id if name == "task_success" else None)
            got = {key: normal(kw[key]) for key in ("args", "kwargs", "retval", "state", "result") if key in kw}
            if "exception" in kw:
                got["exception"] = normal(kw["exception"])
            got["sender"] = getattr(sender, "name", None)
            seen.setdefault(task_id, []).append((name, got))
        return receiver

    for name in ["task_prerun", "task_postrun", "task_success", "task_failure"]:
        receiver = keep(name)
        getattr(impl.signals, name).connect(receiver, weak=False)
        receivers.append((name, receiver))
    try:
        ok = impl.t.add.apply_async((1,), {"y": 2})
        bad = impl.t.boom.apply_async()
        ok.get(timeout=30)
        bad.get(propagate=False, timeout=30)
        impl.wait_for("postrun", lambda: all(any(n == "task_postrun" for n, _ in seen.get(r.id, ()))
                                             for r in (ok, bad)))
    finally:
        for name, receiver in receivers:
            getattr(impl.signals, name).disconnect(receiver)
    impl.check([seen[ok.id], seen[bad.id]], [
        [("task_prerun", {"args": [1], "kwargs": {"y": 2}, "sender": "zoo.add"}),
         ("task_success", {"result": 3, "sender": "zoo.add"}),
         ("task_postrun", {"args": [1], "kwargs": {"y": 2}, "retval": 3, "state": "SUCCESS", "sender": "zoo.add"})],
        [("task_prerun", {"args": [], "kwargs": {}, "sender": "zoo.boom"}),
         ("task_failure", {"args": [], "kwargs": {}, "exception": ("compat_suite.errors.MyErr", ("boom", 42)),
                           "sender": "zoo.boom"}),
         ("task_postrun", {"args": [], "kwargs": {}, "retval": ("compat_suite.errors.MyErr", ("boom", 42)),
                           "state": "FAILURE", "sender": "zoo.boom"})],
    ])


def test_result_stored_before_task_success_signal(impl):
    states = []

    def on_success(sender=None, **kw):
        states.append(impl.app.AsyncResult(sender.request.id).state)

    impl.signals.task_success.connect(on_success, weak=False)
    try:
        r = impl.t.add.delay(2, 2)
        r.get(timeout=30)
        impl.wait_for("signal", lambda: states)
    finally:
        impl.signals.task_success.disconnect(on_success)
    impl.check(states[:1], ["SUCCESS"])


def test_before_and_after_publish_signals(impl):
    seen = []

    def before(sender=None, headers=None, **kw):
        seen.append(("before_task_publish", sender, (headers or {}).get("task")))

    def after(sender=None, **kw):
        seen.append(("after_task_publish", sender))

    impl.signals.before_task_publish.connect(before, weak=False)
    impl.signals.after_task_publish.connect(after, weak=False)
    try:
        impl.t.add.delay(1, 2).get(timeout=30)
    finally:
        impl.signals.before_task_publish.disconnect(before)
        impl.signals.after_task_publish.disconnect(after)
    impl.check(seen[:2], [("before_task_publish", "zoo.add", "zoo.add"), ("after_task_publish", "zoo.add")])


def test_plain_delay_in_a_rolled_back_transaction(impl):
    from django.db import transaction

    from compat_suite.differences import deliberate

    k = k_(impl, "rb")
    try:
        with transaction.atomic():
            r = impl.t.mark.delay(k, "published")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    time.sleep(1.0)
    impl.check([NOTES.get(k, []), r.state], deliberate(
        "delay-on-commit-rollback-vs-plain-delay",
        celery=[["published"], "SUCCESS"], celery_django=[[], "PENDING"], celery_compat=[[], "PENDING"]))
