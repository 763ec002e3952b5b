"""§1–3 canvas: chains, groups, chords (celery_compat's canvas, built by the canvas issue)."""

from __future__ import annotations

import time

from compat_suite.observe import exc, normal, raises
from compat_suite.zoo import NOTES


def test_c1_chain_result_passing_and_parents(impl):
    c, t = impl.celery, impl.t
    r = c.chain(t.add.s(2, 2), t.add.s(4), t.add.si(10, 10)).delay()
    impl.check([r.get(timeout=10), r.parent.get(timeout=10), r.parent.parent.get(timeout=10),
                r.parent.parent.parent], [20, 8, 4, None])


def test_c2_partial_args_go_to_the_first_task(impl):
    c, t = impl.celery, impl.t
    impl.check([c.chain(t.add.s(1), t.add.s(2)).delay(5).get(timeout=10),
                (t.add.s(1, 1) | t.add.s(1)).apply_async().get(timeout=10)], [8, 3])


def test_c3_mid_chain_failure_fails_the_rest(impl):
    c, t = impl.celery, impl.t
    k = f"c3-{impl.name}-{time.time_ns()}"
    r = c.chain(t.add.s(1, 1), t.boom_key.s(), t.mark.si(k, "never")).delay()
    outcome = raises(r.get, timeout=10)
    time.sleep(0.3)
    impl.check([outcome, r.state, r.parent.state, r.parent.parent.get(timeout=10), NOTES.get(k, [])],
               [("raised", ("compat_suite.errors.MyErr", ("boom", 2))), "FAILURE", "FAILURE", 2, []])


def test_c4_chain_ending_in_a_group(impl):
    c, t = impl.celery, impl.t
    r = c.chain(t.add.s(1, 1), c.group(t.add.s(1), t.add.s(2))).delay()
    impl.check([type(r).__name__, r.get(timeout=10)], ["GroupResult", [3, 4]])


def test_c5_task_group_task_becomes_a_chord(impl):
    c, t = impl.celery, impl.t
    r = c.chain(t.add.s(1, 1), c.group(t.add.s(1), t.add.s(2)), t.tsum.s()).delay()
    impl.check(r.get(timeout=10), 7)


def test_g1_group_keeps_declared_order(impl):
    c, t = impl.celery, impl.t
    g = c.group(t.sleeper.s(0.3), t.sleeper.s(0.1), t.sleeper.s(0.2)).delay()
    value = g.get(timeout=10)
    impl.check([type(g).__name__, value, g.completed_count(), g.ready(), g.successful()],
               ["GroupResult", [0.3, 0.1, 0.2], 3, True, True])


def test_g2_group_failure(impl):
    c, t = impl.celery, impl.t
    g = c.group(t.add.s(1, 1), t.boom.s()).delay()
    outcome = raises(g.get, timeout=10)
    impl.check([outcome, normal(g.get(propagate=False, timeout=10)), g.ready(), g.successful(), g.failed(),
                g.completed_count()],
               [("raised", ("compat_suite.errors.MyErr", ("boom", 42))),
                [2, ("compat_suite.errors.MyErr", ("boom", 42))], True, False, True, 1])


def test_g3_group_restore_after_save(impl):
    c, t = impl.celery, impl.t
    g = c.group(t.add.s(1, 1), t.add.s(2, 2)).delay()
    before = impl.app.GroupResult.restore(g.id)
    g.save()
    restored = impl.app.GroupResult.restore(g.id)
    impl.check([before, restored.get(timeout=10)], [None, [2, 4]])


def test_g4_group_members_know_their_group(impl):
    c, t = impl.celery, impl.t
    g = c.group(t.request_info.s(), t.request_info.s()).delay()
    infos = g.get(timeout=10)
    impl.check([[i["group"] == g.id for i in infos]], [[True, True]])


def test_h1_chord_success_and_parent(impl):
    c, t = impl.celery, impl.t
    r = c.chord([t.add.s(1, 1), t.add.s(2, 2)])(t.tsum.s())
    impl.check([r.get(timeout=10), r.parent.get(timeout=10)], [6, [2, 4]])


def test_h2_chord_with_empty_header(impl):
    c, t = impl.celery, impl.t
    impl.check(c.chord([], t.tsum.s()).delay().get(timeout=10), 0)


def test_h3_chord_header_failure_fails_the_body(impl):
    c, t = impl.celery, impl.t
    k = f"h3-{impl.name}-{time.time_ns()}"
    r = c.chord([t.add.s(1, 1), t.boom.s()], t.mark.s(k))()
    e = r.get(propagate=False, timeout=15)
    time.sleep(0.3)
    impl.check([r.state, exc(e)[0], NOTES.get(k, [])], ["FAILURE", "exceptions.ChordError", []])


# -- C6, C7, G5, H4, eager canvas ---------------------------------------------


def test_c6_group_then_group_is_a_chord_with_a_group_body(impl):
    c, t = impl.celery, impl.t
    r = (c.group(t.add.s(1, 1), t.add.s(2, 2)) | c.group(t.tsum.s(), t.tsum.s())).delay()
    # every body task gets the whole list: add(list, 10) fails with TypeError
    bad = (c.group(t.add.s(1, 1), t.add.s(2, 2)) | c.group(t.add.s(10))).delay()
    failed = bad.get(propagate=False, timeout=10)
    impl.check([type(r).__name__, r.get(timeout=10), [exc(e)[0] for e in failed]],
               ["GroupResult", [6, 6], ["TypeError"]])


def test_c7_only_the_first_task_is_published_with_the_rest_embedded_reversed(impl):
    import threading

    t = impl.t
    me = threading.get_ident()
    sent = []

    def on_publish(sender=None, body=None, headers=None, **kwargs):
        if threading.get_ident() == me:  # not the worker's own publishes
            sent.append((sender, headers["id"], body[2].get("chain")))

    impl.signals.before_task_publish.connect(on_publish, weak=False)
    try:
        r = (t.add.s(1, 1) | t.add.s(2) | t.add.si(3, 3)).apply_async()
    finally:
        impl.signals.before_task_publish.disconnect(on_publish)
    [(name, first_id, embedded)] = sent
    roles = {r.id: "last", r.parent.id: "second", r.parent.parent.id: "first"}
    shape = [[s["task"], list(s["args"]), s["immutable"], roles.get(s["options"].get("task_id")),
              bool(s["options"].get("reply_to"))] for s in embedded]
    impl.check([name, roles.get(first_id), shape, r.get(timeout=10)],
               ["zoo.add", "first", [["zoo.add", [3, 3], True, "last", True],
                                     ["zoo.add", [2], False, "second", True]], 6])


def test_g5_group_link_options_and_skew(impl):
    c, t = impl.celery, impl.t
    refused = [raises(c.group(t.add.s(1, 1)).apply_async, link=t.add.s(1)),
               raises(c.group(t.add.s(1, 1)).apply_async, link_error=t.add.s(1))]
    g = c.group(t.add.s(1, 1), t.add.s(2, 2))
    g.link(t.add.s(10))
    clones = g.link_error(t.add.s(20))
    links = [[[s["task"], list(s["args"]), s["immutable"]] for s in task.options.get(key, [])]
             for key in ("link", "link_error") for task in g.tasks]
    skewed = c.group(*[t.add.s(i, i) for i in range(4)]).skew(start=1, stop=10, step=4)
    impl.check([refused, links, len(clones), [task.options["countdown"] for task in skewed.tasks]],
               [[("raised", ("TypeError", ("Cannot add link to group: use a chord",))),
                 ("raised", ("TypeError", ("Cannot add link to group: do that on individual tasks",)))],
                [[["zoo.add", [10], True]], [], [["zoo.add", [20], False]], [["zoo.add", [20], False]]],
                2, [1.0, 5.0, 9.0, 9.0]])


def test_g5_group_link_error_gives_each_failed_task_id_to_an_old_style_errback(impl):
    c, t = impl.celery, impl.t
    k = f"g5e-{impl.name}-{time.time_ns()}"
    g = c.group(t.add.s(1, 1), t.boom.s())
    g.link_error(t.mark.s(k))  # old-style: mark(failed_task_id, k)
    r = g.delay()
    r.get(propagate=False, timeout=10)
    ids_ = impl.wait_for("errback", lambda: [key for key in list(NOTES) if NOTES[key] == [k]])
    impl.check([found == r.results[1].id for found in ids_], [True])


def test_h4_chord_body_runs_once_when_header_tasks_finish_together(impl):
    c, t = impl.celery, impl.t
    k = f"h4-{impl.name}-{time.time_ns()}"
    r = c.chord([t.add.s(i, 0) for i in range(20)], t.collect.s(k)).delay()
    value = r.get(timeout=20)
    time.sleep(0.5)  # a second body run would have noted by now
    impl.check([value, NOTES.get(k, [])], [list(range(20)), [list(range(20))]])


def test_eager_chain_failure_raises_out_of_delay(impl):
    app, t = impl.make_app(task_always_eager=True, task_eager_propagates=False)
    c = impl.celery
    ok = c.chain(t.add.s(2, 2), t.add.s(4), t.add.si(10, 10)).delay()
    impl.check([type(ok).__name__, ok.get(), ok.parent.get(),
                raises(c.chain(t.add.s(1, 1), t.boom.si(), t.add.s(5)).delay),
                raises(c.chord([t.add.s(1, 1), t.boom.s()], t.tsum.s()).delay)],
               ["EagerResult", 20, 8, ("raised", ("compat_suite.errors.MyErr", ("boom", 42))),
                ("raised", ("compat_suite.errors.MyErr", ("boom", 42)))])


def test_eager_group_is_a_group_result_of_eager_results(impl):
    app, t = impl.make_app(task_always_eager=True)
    g = impl.celery.group(t.add.s(1, 1), t.add.s(2, 2)).delay()
    impl.check([type(g).__name__, [type(r).__name__ for r in g.results], g.get(), g.completed_count()],
               ["GroupResult", ["EagerResult", "EagerResult"], [2, 4], 2])
