"""The one list of deliberate differences between Celery and celery_compat.

Each entry names the scenario that observes it, why celery_compat differs,
and the scenario that proves code written for Celery still works. A scenario
expecting a deliberate difference says so with ``deliberate(name, ...)``; the
parity table shows it as "deliberate" with the reason, any other difference
fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Difference:
    name: str
    reason: str
    #: the scenario proving that code written for Celery still works
    proof: str


DIFFERENCES: dict[str, Difference] = {d.name: d for d in [
    Difference(
        "task-id-reuse-overwrites",
        "Key/value result backends (Redis, the reference's backend) refuse to overwrite a "
        "SUCCESS; the django-db backend, which celery_compat implements like "
        "django-celery-results, lets a later SUCCESS replace it (a reused task id shows its "
        "last success). Backend-dependent in Celery itself (semantics §16 D1). Other states "
        "never replace a SUCCESS on either (a retry's late RETRY write must not hide its "
        "re-run's success).",
        "scenarios/test_results.py::test_d1_task_id_reuse_last_result_on_database",
    ),
    Difference(
        "start-worker-allows-join",
        "Celery's embedded test worker (celery.contrib.testing.worker.start_worker) turns "
        "off the 'Never call result.get() within a task' check for the whole process; a real "
        "`celery worker` keeps it. celery_compat.testing.start_worker keeps it, like a real "
        "worker. The suite checks the rule in eager mode, where both agree.",
        "scenarios/test_eager.py::test_p4_get_inside_an_eager_task_raises_runtime_error",
    ),
    Difference(
        "delay-on-commit-rollback-vs-plain-delay",
        "A task published with plain delay() inside a transaction that rolls back is gone "
        "with the transaction on django:// (the message row is rolled back); on a stock "
        "broker it was already sent and runs. Code written for Celery uses delay_on_commit() "
        "for this, which behaves the same on both.",
        "scenarios/test_misc.py::test_delay_on_commit_publishes_after_commit_only",
    ),
    Difference(
        "timezone-django-fallback",
        "An app that never reads Django's settings (no config_from_object('django.conf:settings')) "
        "and sets no `timezone`: Celery uses UTC (enable_utc=True, the default) where celery_compat "
        "uses Django's TIME_ZONE, because celery_compat's apps always live in a Django project (the "
        "issue: `app.timezone` from CELERY_TIMEZONE or Django's TIME_ZONE). An app configured from "
        "Django's settings, as in Celery's Django layout, gets TIME_ZONE on both; with "
        "enable_utc=False both use the process' local zone, which Django sets to TIME_ZONE.",
        "scenarios/test_timezone.py::test_tz1_configured_app_uses_django_time_zone",
    ),
    Difference(
        "eager-delay-replace-works",
        "Celery's eager delay() runs the task under denied_join_result and its on_replace "
        "calls .get(), so self.replace() inside an eager delay() fails with RuntimeError "
        "('Never call result.get() within a task!'; semantics §11 A6, a quirk of every 5.x). "
        "celery_compat runs the replacement and returns its value. Code written for Celery "
        "cannot rely on the failure; what it does use, task.apply() with replace, gives the "
        "same value on both.",
        "scenarios/test_surface.py::test_a6_replace_in_eager_apply_works",
    ),
    Difference(
        "beat-dst-no-double-no-miss",
        "At daylight-saving changes celery_compat's beat fires crontab runs as cron does, where "
        "Celery's beat (crontab.is_due on the time it last sent the task) misbehaves (found by "
        "simulating Celery 5.x beat, listed in celery_compat/schedules.py): clocks going forward, "
        "matching times inside the skipped hour fire once when clocks jump (Celery moves them one "
        "hour later and drops all but the first: '15,45 2 * * *' runs at 03:15 only); clocks going "
        "back, a crontab with hour='*' fires in both passes of the repeated hour, so '*/15' keeps 15 "
        "elapsed minutes (Celery leaves a 75-minute hole), and one with fixed hours fires once, in "
        "the first pass; and a run sent during the second pass never re-fires at every tick (Celery's "
        "run storm). Away from DST changes the next run is Celery's (hypothesis-checked). "
        "crontab.is_due/remaining_estimate themselves keep Celery's arithmetic.",
        "tests/beat/test_dst.py::test_scheduler_through_a_dst_night, "
        "tests/beat/test_slots.py::test_next_run_is_celerys_away_from_dst_changes",
    ),
    Difference(
        "beat-claimed-runs",
        "Celery needs exactly one beat process (two send every task twice). celery_compat's beat claims "
        "each due run in the database (a unique (entry, due instant) row written in the transaction "
        "that publishes the message), so every worker may run -B and each run is sent once. Interval "
        "runs are therefore at fixed instants (the entry's first sighting + k * interval, shared by "
        "all schedulers) rather than interval-after-the-last-send; runs due while this scheduler was "
        "up but late (under 5 minutes) are sent one by one; runs missed while every scheduler was down "
        "fire once on start, as in Celery. Each message carries the headers periodic_task_name (as "
        "django-celery-beat) and periodic_task_due_at.",
        "tests/beat/test_multi_worker.py::test_three_workers_with_beat_fire_each_run_exactly_once",
    ),
    Difference(
        "revokes-persist",
        "celery_compat's revoke() is also a row (celery_compat.revokes) that every worker "
        "checks, so a worker started later, or restarted, still discards the task; Celery "
        "keeps revokes in the memory of the workers alive at the time (shared with later "
        "workers only through mingle on amqp/redis, or --statedb; off in its embedded worker, "
        "and useless after every worker restarted), so a worker started later runs it (real "
        "Celery over django:// too: the rows are celery_compat's). Code written for Celery "
        "revokes tasks that live workers hold, which behaves the same on all three.",
        "scenarios/test_restarts.py::test_k1_revoke_reaches_a_live_worker",
    ),
    Difference(
        "eta-waits-in-the-table",
        "On django:// a countdown/eta message is invisible in its table until due: no worker "
        "holds it in memory (inspect().scheduled() lists nothing), so a worker killed before "
        "the ETA loses nothing and the task runs when due on any worker. Celery's worker on "
        "Redis receives it at once and keeps it unacked in memory until the ETA; killed, the "
        "message comes back only after the visibility timeout (1 hour). Real Celery over "
        "django:// gets the table's behaviour. Code written for Celery only relies on the task "
        "running once when due, which holds on all three.",
        "scenarios/test_restarts.py::test_e2_eta_task_runs_once_on_a_live_worker",
    ),
]}


@dataclass(frozen=True)
class Deliberate:
    """An expectation that differs per implementation, for a listed reason."""

    name: str
    values: dict[str, Any]

    def for_impl(self, impl: str) -> Any:
        # Real Celery over django:// behaves as real Celery unless the entry
        # names it (the differences that come from the transport).
        if impl == "celery_django" and impl not in self.values:
            return self.values["celery"]
        return self.values[impl]


def deliberate(name: str, **values: Any) -> Deliberate:
    if name not in DIFFERENCES:
        raise KeyError(f"deliberate difference {name!r} is not listed in compat_suite/differences.py")
    return Deliberate(name, values)
