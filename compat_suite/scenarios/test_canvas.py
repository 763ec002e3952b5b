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
