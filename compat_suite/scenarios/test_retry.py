"""§5 retries: T1–T4 with short countdowns."""

from __future__ import annotations

import time

from compat_suite.observe import exc, raises
from compat_suite.zoo import NOTES


def key(impl, name):
    return f"{name}-{impl.name}-{time.time_ns()}"


def test_t1_retry_with_exc_runs_three_times_then_fails_with_original(impl):
    k = key(impl, "t1")
    r = impl.t.flaky.delay(k)
    outcome = raises(r.get, timeout=15)
    impl.check([NOTES[k], outcome, r.state, exc(r.result)],
               [[0, 1, 2], ("raised", ("compat_suite.errors.MyErr", ("flaky",))), "FAILURE",
                ("compat_suite.errors.MyErr", ("flaky",))])


def test_t1_between_runs_state_is_retry_with_original_exception(impl):
    k = key(impl, "t1b")
    r = impl.t.flaky.delay(k)
    impl.wait_for("RETRY", lambda: r.state == "RETRY")
    during = [r.state, exc(r.result), r.ready(), "Retry in" in (r.traceback or "")]
    r.get(propagate=False, timeout=15)
    impl.check(during, ["RETRY", ("compat_suite.errors.MyErr", ("flaky",)), False, True])


def test_t2_retry_without_exc_ends_in_max_retries_exceeded(impl):
    k = key(impl, "t2")
    r = impl.t.retry_noexc.delay(k)
    e = r.get(propagate=False, timeout=15)
    impl.check([NOTES[k], exc(e)[0], str(e).startswith("Can't retry zoo.retry_noexc["),
                str(e).endswith(f"args:['{k}'] kwargs:{{}}") or str(e).endswith(f"args:('{k}',) kwargs:{{}}")],
               [[0, 1], "exceptions.MaxRetriesExceededError", True, True])


def test_t3_retry_keeps_the_task_id_and_then_succeeds(impl):
    k = key(impl, "t3")
    r = impl.t.retry_then_ok.delay(k, 2)
    impl.check([r.get(timeout=15), NOTES[k], r.state], [2, [0, 1, 2], "SUCCESS"])


def test_t3_max_retries_on_the_call_overrides_the_task(impl):
    k = key(impl, "t3o")
    r = impl.t.retry_override.delay(k)
    impl.check([exc(r.get(propagate=False, timeout=15)), NOTES[k]],
               [("compat_suite.errors.MyErr", ("over",)), [0, 1]])


def test_t3_retry_called_directly_reraises_the_exception(impl):
    k = key(impl, "t3d")
    impl.check(raises(impl.t.flaky, k), ("raised", ("compat_suite.errors.MyErr", ("flaky",))))


def test_t4_autoretry_backoff_then_failure(impl):
    k = key(impl, "t4")
    started = time.monotonic()
    r = impl.t.auto.delay(k)
    e = r.get(propagate=False, timeout=20)
    elapsed = time.monotonic() - started
    # retry_backoff=0.5 counts as factor 1 (int(max(1.0, 0.5))); retry_backoff_max=1
    # caps the countdowns 1, 2 at 1 s each
    impl.check([NOTES[k], exc(e), 1.9 <= elapsed < 5],
               [[0, 1, 2], ("compat_suite.errors.MyErr", ("auto",)), True])


def test_t4_dont_autoretry_for_wins(impl):
    k = key(impl, "t4d")
    r = impl.t.auto_dont.delay(k)
    impl.check([exc(r.get(propagate=False, timeout=15)), NOTES[k]], [("KeyError", ("nope",)), [0]])


def test_retry_signal_and_state_sequence(impl):
    k = key(impl, "t1s")
    seen = []

    def on_retry(sender=None, request=None, reason=None, **kw):
        if request is not None and request.args and request.args[0] == k:
            seen.append(("task_retry", type(reason).__name__))

    impl.signals.task_retry.connect(on_retry, weak=False)
    try:
        impl.t.flaky.delay(k).get(propagate=False, timeout=15)
    finally:
        impl.signals.task_retry.disconnect(on_retry)
    impl.check(seen, [("task_retry", "Retry")] * 2)


def _retry_countdowns(impl, run, retries):
    """The countdowns of the retries ``run()`` causes, as the task_retry signal's reason gives them.

    Waits (up to 10 s) for ``retries`` signals before it stops listening: a
    worker thread sends task_retry after publishing the retry, and with a
    countdown of 0 the retried run can finish (and ``run()`` return) first.
    """
    whens = []

    def receiver(sender=None, reason=None, **kw):
        whens.append(getattr(reason, "when", None))

    impl.signals.task_retry.connect(receiver, weak=False)
    try:
        run()
        deadline = time.monotonic() + 10
        while len(whens) < retries and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        impl.signals.task_retry.disconnect(receiver)
    return whens


def test_t3_default_retry_delay_is_three_minutes(impl):
    k = key(impl, "t3d")
    results = []

    def run():
        r = impl.t.retry_default_delay.delay(k)
        results.append(r)
        impl.wait_for("RETRY", lambda: r.state == "RETRY")

    whens = _retry_countdowns(impl, run, 1)
    r = results[0]
    r.revoke()  # not run again three minutes from now
    impl.check([NOTES[k], whens, impl.t.retry_default_delay.default_retry_delay], [[0], [180], 180])


def test_t4_retry_jitter_draws_a_countdown_up_to_the_backoff(impl):
    k = key(impl, "t4j")
    results = []

    def run():
        r = impl.t.auto_jitter.delay(k)
        results.append(r)
        r.get(propagate=False, timeout=15)

    whens = _retry_countdowns(impl, run, 1)
    # retry_backoff=4, first retry: a whole number of seconds from 0 to 4 (full jitter).
    impl.check([NOTES[k], len(whens), all(isinstance(w, int) and 0 <= w <= 4 for w in whens), results[0].state],
               [[0, 1], 1, True, "FAILURE"])
