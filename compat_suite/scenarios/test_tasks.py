"""§4 R4 requeue, §5 T3/T4 details and handlers, §8 precedence, §14 several links,
§15 acks_late, §17 replace, §18 children: on the running workers."""

from __future__ import annotations

import time

from compat_suite.observe import exc, ids, normal, raises
from compat_suite.zoo import NOTES


def k_(impl, name):
    return f"{name}-{impl.name}-{time.time_ns()}"


def test_r4_reject_with_requeue_is_redelivered_when_acks_late(impl):
    k = k_(impl, "r4q")
    r = impl.t.requeuer.delay(k)
    impl.check([r.get(timeout=15), NOTES[k], r.state], [2, ["run", "run"], "SUCCESS"])


def test_r4_reject_with_requeue_after_an_early_ack_does_nothing(impl):
    # acked when the task started: there is no message left to requeue
    k = k_(impl, "r4e")
    r = impl.t.requeuer_early.delay(k)
    impl.wait_for("ran", lambda: NOTES.get(k))
    time.sleep(1.0)
    impl.check([NOTES[k], r.state], [["run"], "PENDING"])


def test_t3_retry_throw_false_returns_the_retry(impl):
    k = k_(impl, "t3n")
    impl.t.retry_nothrow.delay(k)
    impl.wait_for("second run", lambda: len(NOTES.get(k, [])) == 2, timeout=15)
    impl.check(NOTES[k], [[0, "Retry"], [1, None]])


def test_t3_retry_keeps_custom_headers_and_queue(impl):
    k = k_(impl, "t3k")
    r = impl.t.retry_keeps.apply_async((k,), headers={"custom": "h"}, queue=impl.q("explicit"))
    impl.check([r.get(timeout=15), NOTES[k]],
               [1, [[0, {"custom": "h"}, "explicit"], [1, {"custom": "h"}, "explicit"]]])


def test_t3_handlers_on_retry_then_failure(impl):
    k = k_(impl, "hf")
    r = impl.t.handled.delay(k, True)
    outcome = raises(r.get, timeout=15)
    impl.wait_for("after_return", lambda: ["after_return", "FAILURE"] in NOTES.get(k, []))
    impl.check([outcome, NOTES[k]], [
        ("raised", ("compat_suite.errors.MyErr", ("handled",))),
        ["before_start", ["on_retry", "MyErr"],
         "before_start", ["on_failure", "MyErr", True], ["after_return", "FAILURE"]]])


def test_t3_max_retries_none_retries_past_the_default(impl):
    k = k_(impl, "t3u")
    r = impl.t.retry_forever.delay(k)
    impl.check([r.get(timeout=15), NOTES[k]], [4, [0, 1, 2, 3, 4]])


def test_t4_autoretry_lets_ignore_pass_through(impl):
    k = k_(impl, "t4i")
    r = impl.t.auto_ignore.delay(k)
    impl.wait_for("ran", lambda: NOTES.get(k))
    time.sleep(0.5)
    impl.check([NOTES[k], r.state], [[0], "PENDING"])


def test_handlers_on_success(impl):
    k = k_(impl, "hs")
    r = impl.t.handled.delay(k, False)
    value = r.get(timeout=30)
    impl.wait_for("after_return", lambda: ["after_return", "SUCCESS"] in NOTES.get(k, []))
    impl.check([value, NOTES[k]], ["ok", ["before_start", ["on_success", "ok"], ["after_return", "SUCCESS"]]])


def test_t4_retry_kwargs_give_countdown_and_max_retries(impl):
    k = k_(impl, "t4k")
    r = impl.t.auto_kwargs.delay(k)
    impl.check([exc(r.get(propagate=False, timeout=15)), NOTES[k]],
               [("compat_suite.errors.MyErr", ("kw",)), [0, 1]])


def test_i1_store_errors_even_if_ignored(impl):
    r = impl.t.ignored_boom.delay()
    e = r.get(propagate=False, timeout=30)
    # ``r.ignored`` is True, so get() returns None at once: read the stored state
    fresh = impl.app.AsyncResult(r.id)
    impl.wait_for("FAILURE stored", lambda: fresh.state == "FAILURE")
    impl.check([e, fresh.state, exc(fresh.result)],
               [None, "FAILURE", ("compat_suite.errors.MyErr", ("stored anyway",))])


def test_i1_call_option_beats_task_attribute(impl):
    k = k_(impl, "i1p")
    r = impl.t.ignored.apply_async((k,), ignore_result=False)
    impl.check([r.ignored, r.get(timeout=30), r.state], [False, "ignored", "SUCCESS"])


def test_l1_several_links_are_one_group(impl):
    r = impl.t.add.apply_async((2, 3), link=[impl.t.echo.s("a"), impl.t.echo.s("b")])
    r.get(timeout=30)
    children = impl.wait_for("children", lambda: r.children)
    impl.check([[type(c).__name__ for c in children], normal(children[0].get(timeout=30))],
               [["GroupResult"], [[[5, "a"], {}], [[5, "b"], {}]]])


def test_children_of_a_task_publishing_a_task_and_a_group(impl):
    r = impl.t.spawner_many.delay()
    r.get(timeout=30)
    children = impl.wait_for("children", lambda: r.children)
    impl.check([[type(c).__name__ for c in children], children[0].get(timeout=30),
                children[1].get(timeout=30)], [["AsyncResult", "GroupResult"], 2, [4, 6]])


def test_15_acks_late_success_runs_once(impl):
    k = k_(impl, "al")
    r = impl.t.late.delay(k)
    value = r.get(timeout=30)
    time.sleep(0.5)
    impl.check([value, NOTES[k]], ["late", [0]])


def test_15_acks_late_failure_is_acked_not_redelivered(impl):
    # acks_on_failure_or_timeout=True (default): a failed acks_late task is acked
    k = k_(impl, "alf")
    r = impl.t.late_boom.delay(k)
    outcome = raises(r.get, timeout=30)
    time.sleep(1.0)
    impl.check([outcome, NOTES[k]], [("raised", ("compat_suite.errors.MyErr", ("late",))), ["run"]])


def test_z1_replace_keeps_the_callers_id(impl):
    r = impl.t.replacer.delay(1)
    impl.check([r.get(timeout=30), r.state], [101, "SUCCESS"])


def test_z1_replace_with_a_group_gives_the_list(impl):
    r = impl.t.replacer_group.delay()
    impl.check(normal(r.get(timeout=15)), [2, 3])


def test_z1_replacement_inherits_the_callers_links(impl):
    k = k_(impl, "z1l")
    r = impl.t.replacer_linked.apply_async((1,), link=impl.t.mark.si(k, "linked"))
    value = r.get(timeout=30)
    impl.wait_for("link", lambda: NOTES.get(k))
    impl.check([value, NOTES[k]], [2, ["linked"]])


def test_z1_replace_with_chord_option_or_empty_chain_is_improperly_configured(impl):
    a = impl.t.replacer_bad.delay("chord-option").get(propagate=False, timeout=30)
    b = impl.t.replacer_bad.delay("empty-chain").get(propagate=False, timeout=30)
    impl.check([exc(a)[0], exc(b)[0]], ["exceptions.ImproperlyConfigured", "exceptions.ImproperlyConfigured"])


def test_subtask_ids_in_a_group_from_the_client(impl):
    g = impl.celery.group(impl.t.request_info.s(), impl.t.request_info.s()).delay()
    infos = g.get(timeout=30)
    impl.check([[ids(i["root_id"], {c.id: "own"}) for i, c in zip(infos, g.results)]], [["<own>", "<own>"]])
