"""§6 ETA/countdown/expires, §7 revoke before start."""

from __future__ import annotations

import datetime as dt
import time

from compat_suite.observe import exc, raises
from compat_suite.zoo import NOTES


def test_e1_eta_ordering_and_pending_meanwhile(impl):
    k = f"e1-{impl.name}-{time.time_ns()}"
    late = impl.t.mark.apply_async((k, "late"), countdown=1.5)
    early = impl.t.mark.apply_async((k, "early"), eta=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=0.5))
    states = [late.state, early.state]
    early.get(timeout=30)
    late.get(timeout=30)
    impl.check([states, NOTES[k]], [["PENDING", "PENDING"], ["early", "late"]])


def test_countdown_is_honoured(impl):
    started = time.monotonic()
    r = impl.t.add.apply_async((1, 2), countdown=1)
    value = r.get(timeout=30)
    impl.check([value, time.monotonic() - started >= 0.9], [3, True])


def test_e3_expires_while_waiting_is_revoked(impl):
    r = impl.t.add.apply_async((1, 1), countdown=1, expires=0.5)
    outcome = raises(r.get, timeout=30)
    impl.check([outcome, r.state], [("raised", ("exceptions.TaskRevokedError", ("expired",))), "REVOKED"])


def test_e4_expires_in_the_past_is_revoked(impl):
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    r = impl.t.add.apply_async((1, 1), expires=past)
    outcome = raises(r.get, timeout=30)
    impl.check([outcome, r.state, exc(r.result)],
               [("raised", ("exceptions.TaskRevokedError", ("expired",))), "REVOKED",
                ("exceptions.TaskRevokedError", ("expired",))])


def test_e3_task_revoked_signal_says_expired(impl):
    seen = []

    def on_revoked(sender=None, request=None, terminated=None, signum=None, expired=None, **kw):
        seen.append((terminated, expired))

    impl.signals.task_revoked.connect(on_revoked, weak=False)
    try:
        r = impl.t.echo.apply_async(("x",), expires=0.01, countdown=0.3)
        r.get(propagate=False, timeout=30)
        impl.wait_for("task_revoked", lambda: seen)
    finally:
        impl.signals.task_revoked.disconnect(on_revoked)
    impl.check([bool(seen[0][1]), bool(seen[0][0])], [True, False])


def test_k1_revoke_before_start(impl):
    k = f"k1-{impl.name}-{time.time_ns()}"
    r = impl.t.mark.apply_async((k, "ran"), countdown=1)
    r.revoke()
    outcome = raises(r.get, timeout=30)
    time.sleep(1.2)
    impl.check([outcome, r.state, NOTES.get(k, [])],
               [("raised", ("exceptions.TaskRevokedError", ("revoked",))), "REVOKED", []])


def test_k1_revoke_by_id_through_control(impl):
    k = f"k1c-{impl.name}-{time.time_ns()}"
    r = impl.t.mark.apply_async((k, "ran"), countdown=1)
    impl.app.control.revoke(r.id)
    impl.check([r.get(propagate=False, timeout=30).__class__.__name__, NOTES.get(k, [])],
               ["TaskRevokedError", []])
