"""§1–3 canvas: chains, groups, chords (celery_compat's canvas, built by the canvas issue)."""

from __future__ import annotations

import time

from compat_suite.observe import exc, normal, raises
from compat_suite.zoo import NOTES


def test_c1_chain_result_passing_and_parents(impl):
    c, t = impl.celery, impl.t
    r = c.chain(t.add.s(2, 2), t.add.s(4), t.add.si(10, 10)).delay()
    impl.check([r.get(timeout=30), r.parent.get(timeout=30), r.parent.parent.get(timeout=30),
                r.parent.parent.parent], [20, 8, 4, None])


def test_c2_partial_args_go_to_the_first_task(impl):
    c, t = impl.celery, impl.t
    impl.check([c.chain(t.add.s(1), t.add.s(2)).delay(5).get(timeout=30),
                (t.add.s(1, 1) | t.add.s(1)).apply_async().get(timeout=30)], [8, 3])


def test_c3_mid_chain_failure_fails_the_rest(impl):
    c, t = impl.celery, impl.t
    k = f"c3-{impl.name}-{time.time_ns()}"
    r = c.chain(t.add.s(1, 1), t.boom_key.s(), t.mark.si(k, "never")).delay()
    outcome = raises(r.get, timeout=30)
    time.sleep(0.3)
    impl.check([outcome, r.state, r.parent.state, r.parent.parent.get(timeout=30), NOTES.get(k, [])],
               [("raised", ("compat_suite.errors.MyErr", ("boom", 2))), "FAILURE", "FAILURE", 2, []])


def test_c4_chain_ending_in_a_group(impl):
    c, t = impl.celery, impl.t
    r = c.chain(t.add.s(1, 1), c.group(t.add.s(1), t.add.s(2))).delay()
    impl.check([type(r).__name__, r.get(timeout=30)], ["GroupResult", [3, 4]])


def test_c5_task_group_task_becomes_a_chord(impl):
    c, t = impl.celery, impl.t
    r = c.chain(t.add.s(1, 1), c.group(t.add.s(1), t.add.s(2)), t.tsum.s()).delay()
    impl.check(r.get(timeout=30), 7)


def test_g1_group_keeps_declared_order(impl):
    c, t = impl.celery, impl.t
    g = c.group(t.sleeper.s(0.3), t.sleeper.s(0.1), t.sleeper.s(0.2)).delay()
    value = g.get(timeout=30)
    impl.check([type(g).__name__, value, g.completed_count(), g.ready(), g.successful()],
               ["GroupResult", [0.3, 0.1, 0.2], 3, True, True])


def test_g2_group_failure(impl):
    c, t = impl.celery, impl.t
    g = c.group(t.add.s(1, 1), t.boom.s()).delay()
    outcome = raises(g.get, timeout=30)
    impl.check([outcome, normal(g.get(propagate=False, timeout=30)), g.ready(), g.successful(), g.failed(),
                g.completed_count()],
               [("raised", ("compat_suite.errors.MyErr", ("boom", 42))),
                [2, ("compat_suite.errors.MyErr", ("boom", 42))], True, False, True, 1])


def test_g3_group_restore_after_save(impl):
    c, t = impl.celery, impl.t
    g = c.group(t.add.s(1, 1), t.add.s(2, 2)).delay()
    before = impl.app.GroupResult.restore(g.id)
    g.save()
    restored = impl.app.GroupResult.restore(g.id)
    impl.check([before, restored.get(timeout=30)], [None, [2, 4]])


def test_g4_group_members_know_their_group(impl):
    c, t = impl.celery, impl.t
    g = c.group(t.request_info.s(), t.request_info.s()).delay()
    infos = g.get(timeout=30)
    impl.check([[i["group"] == g.id for i in infos]], [[True, True]])


def test_h1_chord_success_and_parent(impl):
    c, t = impl.celery, impl.t
    r = c.chord([t.add.s(1, 1), t.add.s(2, 2)])(t.tsum.s())
    impl.check([r.get(timeout=30), r.parent.get(timeout=30)], [6, [2, 4]])


def test_h2_chord_with_empty_header(impl):
    c, t = impl.celery, impl.t
    impl.check(c.chord([], t.tsum.s()).delay().get(timeout=30), 0)


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
    failed = bad.get(propagate=False, timeout=30)
    impl.check([type(r).__name__, r.get(timeout=30), [exc(e)[0] for e in failed]],
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
    impl.check([name, roles.get(first_id), shape, r.get(timeout=30)],
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
    r.get(propagate=False, timeout=30)
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


# -- freeze(), replace() and errbacks: ids and places as Celery fixes them ------


def test_freeze_keeps_an_id_and_a_group_id_already_set(impl):
    t = impl.t
    preset = t.add.s(1, 1).set(task_id="preset")
    first = preset.freeze("given").id
    again = preset.freeze().id
    fresh = t.add.s(1, 1)
    placed = t.add.s(1, 1).set(group_id="own-group")
    placed.freeze(group_id="outer-group", root_id="root", parent_id="parent", group_index=3)
    impl.check([first, again, fresh.freeze("given").id,
                {k: placed.options.get(k) for k in ("group_id", "root_id", "parent_id", "group_index")}],
               ["preset", "preset", "given",
                {"group_id": "own-group", "root_id": "root", "parent_id": "parent", "group_index": 3}])


def test_freeze_of_a_group_copies_its_tasks_and_keeps_its_own_id(impl):
    c, t = impl.celery, impl.t
    a, b = t.add.s(1, 1), t.add.s(2, 2)
    g = c.group(a, b)
    r = g.freeze("given")
    preset = c.group(t.add.s(1, 1), task_id="group-preset")
    rp = preset.freeze(group_id="outer", root_id="root")
    impl.check([r.id == "given", r.id == g.id, a.id, b.id,
                [[s.id == x.id, s.options.get("group_id"), s.options.get("group_index")]
                 for s, x in zip(g.tasks, r.results)],
                rp.id, preset.options.get("group_id"),
                [[s.options.get("group_id"), s.options.get("root_id")] for s in preset.tasks]],
               [False, True, None, None, [[True, None, 0], [True, None, 1]],
                "group-preset", "outer", [["outer", "root"]]])


def test_freeze_of_a_chain_and_a_chord_keeps_ids_already_set(impl):
    c, t = impl.celery, impl.t
    ch = c.chain(t.add.s(1, 1), t.add.s(2).set(task_id="last-preset"))
    r = ch.freeze("given")
    own = c.chain(t.add.s(1, 1), t.add.s(2), task_id="chain-own")
    ro = own.freeze()
    placed = c.chain(t.add.s(1, 1), t.add.s(2))
    placed.freeze(group_id="outer", group_index=1, root_id="root")
    h = c.chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s())
    rh = h.freeze("given")
    hb = c.chord([t.add.s(1, 1)], t.tsum.s().set(task_id="body-preset"))
    ho = c.chord([t.add.s(1, 1)], t.tsum.s(), task_id="chord-own")
    rho = ho.freeze()
    impl.check([r.id, r.parent.id == ch.tasks[0].id, ch.id,
                ro.id == "chain-own", own.id == ro.id,
                [[s.options.get("group_id"), s.options.get("group_index"), s.options.get("root_id")]
                 for s in placed.tasks],
                rh.id, h.id == rh.parent.id, h.body.options.get("group_id"),
                hb.freeze("given").id, rho.id == "chord-own", ho.id == rho.parent.id],
               ["last-preset", True, "last-preset", False, True,
                [[None, None, "root"], ["outer", 1, "root"]],
                "given", True, None, "body-preset", False, True])


def test_frozen_workflows_keep_their_ids_when_published(impl):
    c, t = impl.celery, impl.t
    s = t.add.s(1, 1).set(task_id=f"preset-{impl.name}-{time.time_ns()}")
    rs = s.freeze()
    ch = c.chain(t.add.s(1, 1), t.add.s(2))
    rc = ch.freeze()
    g = c.group(t.request_info.s(), t.request_info.s())
    rg = g.freeze()
    h = c.chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s())
    rh = h.freeze()
    # an id fixed on the last step is kept even when apply_async names another
    last = f"last-{impl.name}-{time.time_ns()}"
    fixed = c.chain(t.add.s(1, 1), t.add.s(3).set(task_id=last))
    ps, pc, pg, ph = s.delay(), ch.apply_async(), g.apply_async(), h.apply_async()
    pf = fixed.apply_async(task_id="other")
    infos = pg.get(timeout=30)
    impl.check([ps.id == rs.id, [pc.id, pc.parent.id] == [rc.id, rc.parent.id], pc.get(timeout=30),
                pg.id == rg.id, [r.id for r in pg.results] == [r.id for r in rg.results],
                [i["group"] == rg.id for i in infos],
                [ph.id, ph.parent.id] == [rh.id, rh.parent.id], ph.get(timeout=30),
                pf.id == last, pf.get(timeout=30)],
               [True, True, 4, True, True, [True, True], True, 6, True, 5])


def test_a_replacement_is_published_by_the_replaced_task(impl):
    c, t = impl.celery, impl.t
    alone = t.replacer_info.delay()
    # in a chain the replaced task has a parent of its own: the replacement's parent is still the replaced task
    chained = c.chain(t.add.s(1, 1), t.replacer_info.s()).delay()
    a, b = alone.get(timeout=30), chained.get(timeout=30)
    impl.check([[a["id"] == alone.id, a["parent_id"] == alone.id, a["root_id"] == alone.id],
                [b["id"] == chained.id, b["parent_id"] == chained.id, b["parent_id"] == chained.parent.id,
                 b["root_id"] == chained.parent.id]],
               [[True, True, True], [True, True, False, True]])


def test_old_style_errbacks_are_sent_as_one_group(impl):
    t = impl.t
    ka, kb, one = (f"{p}-{impl.name}-{time.time_ns()}" for p in ("eba", "ebb", "eb1"))
    r = t.boom.apply_async(link_error=[t.errback_place.s(ka), t.errback_place.s(kb)])
    r1 = t.boom.apply_async(link_error=t.errback_place.s(one))
    raises(r.get, timeout=30)
    raises(r1.get, timeout=30)
    impl.wait_for("errbacks", lambda: all(NOTES.get(k) for k in (ka, kb, one)))
    both = [NOTES[ka][0], NOTES[kb][0]]
    single = NOTES[one][0]
    groups = {n[1] for n in both}
    impl.check([[n[0] == r.id for n in both], len(groups), None in groups, r.id in groups,
                [n[2] for n in both], [n[3] == r.id for n in both],
                [single[0] == r1.id, single[1] is not None, single[2], single[3] == r1.id]],
               [[True, True], 1, False, False, [0, 1], [True, True], [True, True, 0, True]])


def test_options_set_on_a_chain_or_a_group_reach_its_tasks(impl):
    c, t = impl.celery, impl.t
    queue = impl.q("explicit")
    # a chain's own options go to its first task (the later ones keep theirs), a group's to every task
    r = c.chain(t.request_info.s(), t.request_info.si()).set(queue=queue).apply_async()
    g = c.group(t.request_info.s(), t.request_info.s()).set(queue=queue).apply_async()
    first, last = r.parent.get(timeout=30), r.get(timeout=30)
    impl.check([impl.unq(first["routing_key"]), impl.unq(last["routing_key"]),
                [impl.unq(i["routing_key"]) for i in g.get(timeout=30)]],
               ["explicit", "default", ["explicit", "explicit"]])



def test_chain_copies_its_steps_as_celery_builds_it(impl):
    """chain() and ``|`` copy (or not) the signatures given, as Celery's: it shows after freeze()."""
    c, t = impl.celery, impl.t

    def kept(ch, sigs):
        return [x is y for x, y in zip(ch.tasks, sigs)]

    a, b = t.add.s(1, 1), t.add.s(2)
    d, e, f = t.add.s(1, 1), t.add.s(2), t.add.s(3)
    g, h, i = t.add.s(1, 1), t.add.s(2), t.add.s(3)
    j, k, m, n = t.add.s(1, 1), t.add.s(2), t.add.s(3), t.add.s(4)
    o, q = t.add.s(1, 1), t.add.s(2)
    r = t.add.s(1, 1)
    u, v, w = t.add.s(1, 1), t.add.s(2), t.add.s(3)
    x, y = t.add.s(1, 1), t.add.s(2)
    built = c.chain(x, y)
    built.freeze()
    impl.check([kept(a | b, (a, b)), kept(d | e | f, (d, e, f)), kept(g | (h | i), (g, h, i)),
                kept((j | k) | (m | n), (j, k, m, n)), kept(c.chain([o, q]), (o, q)), kept(c.chain(r), (r,)),
                kept(c.chain(u, v | w), (u, v, w)), kept(c.chain(x, y, app=impl.app), (x, y)),
                [x.id is None, y.id is None]],
               [[True, True], [False, False, True], [True, False, False], [False] * 4, [False, True], [True],
                [False] * 3, [True, True], [True, False]])


def test_a_chord_header_takes_the_chords_own_task_id(impl):
    """chord(..., task_id=X) and .set(task_id=X) name the body and the header; apply_async(task_id=) the body only."""
    c, t = impl.celery, impl.t
    stamp = f"{impl.name}-{time.time_ns()}"
    own = c.chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s(), task_id=f"own-{stamp}").apply_async()
    built = c.chord(c.group(t.add.s(1, 1), t.add.s(2, 2), task_id=f"grp-{stamp}"), t.tsum.s()).apply_async()
    set_ = c.chord([t.add.s(1, 1)], t.tsum.s()).set(task_id=f"set-{stamp}").apply_async()
    given = c.chord([t.add.s(1, 1)], t.tsum.s()).apply_async(task_id=f"arg-{stamp}")
    impl.check([[own.id == f"own-{stamp}", own.parent.id == f"own-{stamp}"], built.parent.id == f"grp-{stamp}",
                [set_.id == f"set-{stamp}", set_.parent.id == f"set-{stamp}"],
                [given.id == f"arg-{stamp}", given.parent.id == f"arg-{stamp}"],
                [own.get(timeout=30), built.get(timeout=30), set_.get(timeout=30), given.get(timeout=30)]],
               [[True, True], False, [True, True], [True, False], [6, 6, 2, 2]])
