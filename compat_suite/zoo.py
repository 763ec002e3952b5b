"""The task zoo: ``register(app, rt)`` defines the same tasks on either app.

The bodies are written once. What differs between the implementations (the
exception classes to raise, the ``allow_join_result`` helper) comes from the
runtime ``rt`` (see ``runtimes.py``), never from an import here.

Tasks that must prove they ran, or in which order, append to ``NOTES[key]``:
every worker of the suite runs in this process.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from types import SimpleNamespace
from typing import Any

from compat_suite.errors import KwErr, MyErr, Outer, Weird, not_imported_error

#: key → what tasks recorded (in-process workers only)
NOTES: dict[str, list[Any]] = collections.defaultdict(list)
_lock = threading.Lock()


def note(key: str, value: Any) -> None:
    with _lock:
        NOTES[key].append(value)


def register(app: Any, rt: Any) -> SimpleNamespace:
    """Define the zoo on ``app``; returns the tasks by short name."""
    exc = rt.exceptions
    t = SimpleNamespace()
    # Not shared: a shared task would be added to every app created later,
    # the other runtimes' apps too.
    task = functools.partial(app.task, shared=False)

    @task(name="zoo.add")
    def add(x, y):
        return x + y

    @task(name="zoo.tsum")
    def tsum(xs):
        return sum(xs)

    @task(name="zoo.echo")
    def echo(*args, **kwargs):
        return [list(args), kwargs]

    @task(name="zoo.boom")
    def boom():
        raise MyErr("boom", 42)

    @task(name="zoo.sleeper")
    def sleeper(seconds):
        time.sleep(seconds)
        return seconds

    @task(name="zoo.mark")
    def mark(key, value):
        note(key, value)
        return value

    @task(name="zoo.flaky", bind=True, max_retries=2)
    def flaky(self, key):
        note(key, self.request.retries)
        raise self.retry(exc=MyErr("flaky"), countdown=0.2)

    @task(name="zoo.flaky_later", bind=True, max_retries=2)
    def flaky_later(self, key):
        # eager mode ignores the countdown: three runs at once, not in 2 minutes
        note(key, self.request.retries)
        raise self.retry(exc=MyErr("flaky"), countdown=60)

    @task(name="zoo.retry_noexc", bind=True, max_retries=1)
    def retry_noexc(self, key):
        note(key, self.request.retries)
        raise self.retry(countdown=0.1)

    @task(name="zoo.retry_then_ok", bind=True, max_retries=3)
    def retry_then_ok(self, key, failures):
        note(key, self.request.retries)
        if self.request.retries < failures:
            raise self.retry(countdown=0.1)
        return self.request.retries

    @task(name="zoo.retry_override", bind=True, max_retries=5)
    def retry_override(self, key):
        note(key, self.request.retries)
        raise self.retry(exc=MyErr("over"), countdown=0.1, max_retries=1)

    @task(name="zoo.auto", bind=True, autoretry_for=(MyErr,), retry_backoff=0.5,
              retry_backoff_max=1, retry_jitter=False, max_retries=2)
    def auto(self, key):
        note(key, self.request.retries)
        raise MyErr("auto")

    @task(name="zoo.retry_default_delay", bind=True)
    def retry_default_delay(self, key):
        note(key, self.request.retries)
        raise self.retry(exc=MyErr("later"))  # no countdown: default_retry_delay (180 s)

    @task(name="zoo.auto_jitter", bind=True, autoretry_for=(MyErr,), retry_backoff=4, retry_jitter=True,
          max_retries=1)
    def auto_jitter(self, key):
        note(key, self.request.retries)
        raise MyErr("jitter")

    @task(name="zoo.auto_dont", bind=True, autoretry_for=(Exception,),
              dont_autoretry_for=(KeyError,), max_retries=3, default_retry_delay=0.1)
    def auto_dont(self, key):
        note(key, self.request.retries)
        raise KeyError("nope")

    @task(name="zoo.returns_sig")
    def returns_sig():
        return add.s(1, 2)

    @task(name="zoo.returns_exc")
    def returns_exc():
        return MyErr("returned")

    @task(name="zoo.ignorer")
    def ignorer(key):
        note(key, "ran")
        raise exc.Ignore()

    @task(name="zoo.rejecter", bind=True)
    def rejecter(self, key):
        note(key, self.request.retries)
        raise exc.Reject("no", requeue=False)

    @task(name="zoo.progress", bind=True)
    def progress(self, seconds):
        self.update_state(state="PROGRESS", meta={"current": 1, "total": 2})
        time.sleep(seconds)
        return "done"

    @task(name="zoo.write_other", bind=True)
    def write_other(self, other_id):
        self.update_state(task_id=other_id, state="CUSTOM", meta={"by": "other"})
        return "wrote"

    @task(name="zoo.started", bind=True, track_started=True)
    def started(self, seconds):
        time.sleep(seconds)
        return "ok"

    @task(name="zoo.ignored", ignore_result=True)
    def ignored(key):
        note(key, "ran")
        return "ignored"

    @task(name="zoo.getter")
    def getter():
        return add.delay(1, 1).get(timeout=5)

    @task(name="zoo.kw_err")
    def kw_err():
        raise KwErr("m", code=3)

    @task(name="zoo.inner_err")
    def inner_err():
        raise Outer.Inner("in")

    @task(name="zoo.weird_err")
    def weird_err():
        raise Weird(code=3)

    @task(name="zoo.ghost_err")
    def ghost_err():
        raise not_imported_error()("spooky")

    @task(name="zoo.value_err")
    def value_err():
        raise ValueError("bad", 1)

    @task(name="zoo.request_info", bind=True)
    def request_info(self, *args, **kwargs):
        r = self.request
        return {
            "id": r.id, "root_id": r.root_id, "parent_id": r.parent_id,
            "retries": r.retries, "is_eager": bool(r.is_eager),
            "headers": dict(r.headers or {}) if r.headers is not None else None,
            "custom": getattr(r, "custom", None),
            "shadow": getattr(r, "shadow", None),
            "group": r.group, "eta": r.eta is not None, "expires": r.expires is not None,
            "args": list(r.args), "kwargs": dict(r.kwargs),
            "called_directly": bool(r.called_directly),
            "routing_key": (r.delivery_info or {}).get("routing_key"),
        }

    @task(name="zoo.spawner", bind=True)
    def spawner(self):
        child = request_info.delay()
        return child.id

    @task(name="zoo.errback_new")
    def errback_new(request, exc_, traceback):
        note(request.args[0] if request.args else "errback_new", ["new", request.id, type(exc_).__name__, list(exc_.args)])

    @task(name="zoo.errback_old")
    def errback_old(task_id):
        note("errback_old", task_id)

    @task(name="zoo.boom_key")
    def boom_key(key):
        raise MyErr("boom", key)

    @task(name="zoo.routed_deco", bind=True, queue=rt.q("deco"))
    def routed_deco(self):
        return rt.unq((self.request.delivery_info or {}).get("routing_key"))

    @task(name="zoo.routed_conf", bind=True)
    def routed_conf(self):
        return rt.unq((self.request.delivery_info or {}).get("routing_key"))

    @task(name="zoo.routed_both", bind=True, queue=rt.q("deco"))
    def routed_both(self):
        return rt.unq((self.request.delivery_info or {}).get("routing_key"))

    # -- §4 R4, §5 T3/T4, §8, §11 A6, §14, §15, §17 ------------------------------

    @task(name="zoo.requeuer", bind=True, acks_late=True)
    def requeuer(self, key):
        note(key, "run")
        if len(NOTES[key]) == 1:
            raise exc.Reject("again", requeue=True)
        return len(NOTES[key])

    @task(name="zoo.requeuer_early", bind=True)
    def requeuer_early(self, key):
        note(key, "run")
        raise exc.Reject("again", requeue=True)

    @task(name="zoo.retry_nothrow", bind=True, max_retries=1)
    def retry_nothrow(self, key):
        if self.request.retries == 0:
            returned = self.retry(countdown=0.1, throw=False)
            note(key, [0, type(returned).__name__])
            return "first"
        note(key, [self.request.retries, None])
        return "second"

    @task(name="zoo.retry_keeps", bind=True, max_retries=1)
    def retry_keeps(self, key):
        r = self.request
        note(key, [r.retries, dict(r.headers or {}), rt.unq((r.delivery_info or {}).get("routing_key"))])
        if r.retries == 0:
            raise self.retry(countdown=0.1)
        return r.retries

    class Handlers(app.Task):
        def before_start(self, task_id, args, kwargs):
            note(args[0], "before_start")

        def on_success(self, retval, task_id, args, kwargs):
            note(args[0], ["on_success", retval])

        def on_retry(self, exc_, task_id, args, kwargs, einfo):
            note(args[0], ["on_retry", type(exc_).__name__])

        def on_failure(self, exc_, task_id, args, kwargs, einfo):
            note(args[0], ["on_failure", type(exc_).__name__, einfo is not None])

        def after_return(self, status, retval, task_id, args, kwargs, einfo):
            note(args[0], ["after_return", status])

    @task(name="zoo.handled", bind=True, base=Handlers, max_retries=1)
    def handled(self, key, fail):
        if fail and self.request.retries == 0:
            # the re-run must not start before this run's on_retry returned
            raise self.retry(exc=MyErr("handled"), countdown=1.0)
        if fail:
            raise MyErr("handled")
        return "ok"

    @task(name="zoo.auto_kwargs", bind=True, autoretry_for=(MyErr,),
              retry_kwargs={"max_retries": 1, "countdown": 0.1})
    def auto_kwargs(self, key):
        note(key, self.request.retries)
        raise MyErr("kw")

    @task(name="zoo.ignored_boom", ignore_result=True, store_errors_even_if_ignored=True)
    def ignored_boom():
        raise MyErr("stored anyway")

    @task(name="zoo.multi_link_parent")
    def multi_link_parent(x):
        return x

    @task(name="zoo.late", bind=True, acks_late=True)
    def late(self, key):
        note(key, self.request.retries)
        return "late"

    @task(name="zoo.late_boom", bind=True, acks_late=True)
    def late_boom(self, key):
        note(key, "run")
        raise MyErr("late")

    @task(name="zoo.replacer", bind=True)
    def replacer(self, x):
        return self.replace(add.s(x, 100))

    @task(name="zoo.replacer_group", bind=True)
    def replacer_group(self):
        return self.replace(rt.celery.group(add.s(1, 1), add.s(1, 2)))

    @task(name="zoo.replacer_bad", bind=True)
    def replacer_bad(self, what):
        if what == "chord-option":
            sig = add.s(1, 1)
            sig.set(chord=add.s(1))
            return self.replace(sig)
        return self.replace(rt.celery.chain())

    @task(name="zoo.replacer_linked", bind=True)
    def replacer_linked(self, x):
        return self.replace(add.s(x, 1))

    @task(name="zoo.replacer_info", bind=True)
    def replacer_info(self, *args):
        # the replacement reports its own request (id, parent_id, root_id)
        return self.replace(request_info.s())

    @task(name="zoo.errback_place", bind=True)
    def errback_place(self, task_id, key):
        # old-style (bound): applied with the failed task's id; records where it was sent from
        r = self.request
        note(key, [task_id, r.group, r.group_index, r.parent_id])

    @task(name="zoo.retry_slow", bind=True, max_retries=3)
    def retry_slow(self, key, failures):
        # a retry whose re-run cannot finish before this run stored RETRY
        note(key, self.request.retries)
        if self.request.retries < failures:
            raise self.retry(countdown=1.0)
        return self.request.retries

    @task(name="zoo.retry_forever", bind=True, max_retries=None)
    def retry_forever(self, key):
        note(key, self.request.retries)
        if self.request.retries < 4:
            raise self.retry(countdown=0.05)
        return self.request.retries

    @task(name="zoo.auto_ignore", bind=True, autoretry_for=(Exception,), default_retry_delay=0.1)
    def auto_ignore(self, key):
        note(key, self.request.retries)
        raise exc.Ignore()

    @task(name="zoo.touch")
    def touch(path, value):
        """Appends ``value`` to the file ``path``: seen from any process."""
        with open(path, "a") as fh:
            fh.write(f"{value}\n")
        return value

    @task(name="zoo.eta_of", bind=True)
    def eta_of(self):
        return self.request.eta

    @task(name="zoo.spawner_many", bind=True)
    def spawner_many(self):
        add.delay(1, 1)
        rt.celery.group(add.s(2, 2), add.s(3, 3)).delay()
        return "spawned"

    # -- §1-3 canvas -------------------------------------------------------------

    @task(name="zoo.collect")
    def collect(values, key):
        """A chord body that notes each run: ``NOTES[key]`` has one entry per execution."""
        note(key, values)
        return values

    for name, value in list(locals().items()):
        if hasattr(value, "apply_async"):
            setattr(t, name, value)
    return t
