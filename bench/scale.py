"""Drain throughput against a large table: ``python -m bench.scale``.

The performance issue asks that a drain with 10 thousand, 100 thousand and
1 million ready messages in the queue table, and one with 1 million finished
results in the result table, stay within 20% of the small-table figure.
Each case, on PostgreSQL (``BENCH_DATABASE_URL``, default as ``bench.run``):

1. the tables are emptied; B ready ``bench.noop`` messages are written by one
   ``INSERT … SELECT generate_series`` that copies a message published by
   ``noop.delay(0)`` (the real publish path, in the same transaction, then
   deleted), each copy with its own task id in the payload and the column;
   R ``SUCCESS`` results, copied from one the worker stored, are written the
   same way, ``date_done`` spread over the past 12 hours (inside
   ``result_expires``, so nothing is expired);
2. ``VACUUM (ANALYZE)`` and ``CHECKPOINT`` (not timed): a backlog that has
   been sitting is vacuumed and analysed by autovacuum, and neither
   autovacuum nor a checkpoint should land inside the timed drain;
3. the prefork ``-c 2`` worker of ``bench.workloads`` starts; the time from
   its first claim until D (default 5,000) new results are stored gives the
   rate; the worker is stopped.

``--queues Q`` (default 1) spreads each backlog over Q queues (``celery``,
``celery_2``, …) and starts the worker with ``-Q`` naming them all: a
worker on several queues claims from all of them in one statement.

The reference (``small``) is a backlog of exactly D with no results. Each
run of a case holds ``flock /tmp/bench.lock`` from the fill to the last
``TRUNCATE`` (other benchmarks on this machine take the same lock) and
records the 1-minute load average when it got it. Prints a Markdown table;
writes ``bench/results/scale.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import PG_URL, prepare_database, say  # noqa: E402

os.environ.setdefault("BENCH_DATABASE_URL", PG_URL)
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

LOCK_PATH = "/tmp/bench.lock"
#: task ids of the copies: valid UUID text, distinct for messages and results
MESSAGE_ID_PREFIX = "5ca1e000-0000-4000-8000-"
RESULT_ID_PREFIX = "5ca1e000-0000-4000-9000-"
RESULTS_SPREAD = dt.timedelta(hours=12)
VERIFY_N = 20


@contextlib.contextmanager
def bench_lock() -> Iterator[float]:
    """Hold the machine's benchmark lock; yields the 1-minute load average once held."""
    with open(LOCK_PATH, "a") as fh:
        with contextlib.suppress(OSError):  # whoever created it lets the others open it
            os.chmod(LOCK_PATH, 0o666)
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield os.getloadavg()[0]
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Scale:
    """The tables, the fills and the timed drain on one database."""

    def __init__(self, queues: int = 1) -> None:
        from bench.workloads import System

        # System sets Django up and knows the worker command, reset and stop.
        self.system = System("compat-pg-scale", {"kind": "compat"})
        from django.db import connection

        from celery_compat.models import TaskResult
        from kombu_transport_django.models import Message

        if connection.vendor != "postgresql":
            raise SystemExit(f"bench.scale runs on PostgreSQL only (generate_series, pg_*_size), "
                             f"not {connection.vendor}")
        self.connection = connection
        self.messages = Message._meta.db_table
        self.results = TaskResult._meta.db_table
        self.result_model = TaskResult
        self.template_result: dict[str, Any] | None = None
        #: the worker consumes them all; a backlog is spread over them
        self.queues = ["celery", *(f"celery_{n}" for n in range(2, queues + 1))]

    def sql(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    # -- fills ------------------------------------------------------------------

    def fill_messages(self, n: int) -> None:
        """``n`` ready copies of a message that ``noop.delay(0)`` published, spread over the queues."""
        from django.db import transaction

        noop = self.system.tasks.noop
        with transaction.atomic():
            # delay() inserts on this connection, inside this transaction:
            # the template is never visible to a worker.
            template = noop.delay(0).id
            for k, queue in enumerate(self.queues):
                # copy g goes to queue g mod Q: every queue's rows interleave in publish order
                self.sql(
                    f"INSERT INTO {self.messages} (queue, payload, priority, status, available_at, expires_at,"
                    f" created_at, delivery_count, task_id, task_name, dead_reason)"
                    f" SELECT %s, replace(m.payload, m.task_id, t.id), m.priority, m.status, m.available_at,"
                    f" m.expires_at, m.created_at, m.delivery_count, t.id, m.task_name, m.dead_reason"
                    f" FROM {self.messages} m CROSS JOIN LATERAL"
                    f" (SELECT %s || lpad(g::text, 12, '0') AS id FROM generate_series(1, %s) g"
                    f" WHERE g %% %s = %s) t"
                    f" WHERE m.task_id = %s",
                    [queue, MESSAGE_ID_PREFIX, n, len(self.queues), k, template])
            self.sql(f"DELETE FROM {self.messages} WHERE task_id = %s", [template])

    def fill_results(self, n: int) -> None:
        """``n`` copies of a result the worker stored, finished within the last 12 hours."""
        assert self.template_result is not None, "verify() first: it keeps a stored result as the template"
        expires = self.system.app.conf.result_expires
        if expires:
            limit = expires if isinstance(expires, dt.timedelta) else dt.timedelta(seconds=expires)
            if RESULTS_SPREAD >= limit:
                raise SystemExit(f"result_expires {limit} is shorter than the results' spread {RESULTS_SPREAD}")
        columns, values, params = [], [], []
        fields = [f for f in self.result_model._meta.concrete_fields if not f.primary_key]
        for field in fields:
            columns.append(self.connection.ops.quote_name(field.column))
            value = self.template_result[field.attname]
            if field.attname in ("task_id", "root_id") and value == self.template_result["task_id"]:
                values.append("t.id")
            elif field.attname in ("date_created", "date_started", "date_done") and value is not None:
                # g-th copy finished g * spread/n before now: the last is newest
                values.append("now() - (%s - g) * %s * interval '1 microsecond'")
                params += [n, RESULTS_SPREAD / dt.timedelta(microseconds=1) / n]
            else:
                values.append("%s")
                params.append(value)
        self.sql(
            f"INSERT INTO {self.results} ({', '.join(columns)})"
            f" SELECT {', '.join(values)} FROM"
            f" (SELECT g, %s || lpad(g::text, 12, '0') AS id FROM generate_series(1, %s) g) t",
            [*params, RESULT_ID_PREFIX, n])

    def settle(self) -> None:
        # VACUUM cannot run in a transaction; Django's connection is in autocommit here.
        self.sql(f"VACUUM (ANALYZE) {self.messages}")
        self.sql(f"VACUUM (ANALYZE) {self.results}")
        self.sql("CHECKPOINT")

    def sizes(self) -> dict[str, int]:
        """Bytes: the queue table (heap), its indexes, the claim index, the result table with indexes."""
        row = self.sql(
            "SELECT pg_table_size(%s), pg_indexes_size(%s), pg_relation_size('django_kombu_msg_claim'),"
            " pg_total_relation_size(%s), pg_indexes_size(%s),"
            " (SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers')",
            [self.messages, self.messages, self.results, self.results])[0]
        keys = ("queue_table", "queue_indexes", "claim_index", "results_total", "results_indexes",
                "shared_buffers")
        return dict(zip(keys, (int(v) for v in row)))

    # -- worker -----------------------------------------------------------------

    def verify(self) -> None:
        """A worker runs a few copies: each stored as a SUCCESS of its own id. Keeps one as the template."""
        self.system.reset()
        self.fill_messages(VERIFY_N)
        expected = {f"{MESSAGE_ID_PREFIX}{i:012d}" for i in range(1, VERIFY_N + 1)}
        self.drain_first(VERIFY_N, 0, timeout=120)
        rows = list(self.result_model.objects.values())
        stored = {r["task_id"]: r for r in rows}
        bad = [r for r in rows if r["status"] != "SUCCESS" or r["result"] != "0"]
        if set(stored) != expected or bad or self.sql(f"SELECT count(*) FROM {self.messages}")[0][0]:
            raise SystemExit(f"verify: the worker did not run the {VERIFY_N} copies as expected: "
                             f"{len(stored)} results, {len(bad)} not SUCCESS/0; see {self.system.log_path}")
        self.template_result = rows[0]
        self.system.reset()

    def drain_first(self, d: int, after_id: int, timeout: float) -> dict[str, float]:
        """Start the worker; seconds from its first claim until ``d`` results with ``id > after_id``."""
        # Both looks are index lookups: COUNT(*) over a million rows every
        # 50 ms would load the machine the drain runs on.
        probe = (f"SELECT (SELECT count(*) FROM {self.results} WHERE id > %s AND status = 'SUCCESS'),"
                 f" EXISTS (SELECT 1 FROM {self.messages} WHERE status IN (1, 3))")
        from bench.workloads import time_to_done

        proc = self.system.start_worker("-Q", ",".join(self.queues))

        def look() -> tuple[bool, bool]:
            done, claimed = self.sql(probe, [after_id])[0]
            return bool(claimed or done), done >= d

        try:
            elapsed = time_to_done(self.system, proc, timeout, f"{d} tasks", look)
        finally:
            self.system.stop_worker(proc)
        return {"rate": d / elapsed, "seconds": elapsed}

    def run_case(self, backlog: int, results: int, d: int) -> dict[str, Any]:
        """One timed run of a case, under the benchmark lock."""
        with bench_lock() as load:
            self.system.reset()
            began = time.monotonic()
            self.fill_messages(backlog)
            fill_messages = time.monotonic() - began
            began = time.monotonic()
            if results:
                self.fill_results(results)
            fill_results = time.monotonic() - began
            began = time.monotonic()
            self.settle()
            settle = time.monotonic() - began
            sizes = self.sizes()
            after_id = self.sql(f"SELECT coalesce(max(id), 0) FROM {self.results}")[0][0]
            try:
                drained = self.drain_first(d, after_id, timeout=d / 20 + 120)
            finally:
                self.system.reset()
        return {"load1": load, "fill_messages_s": fill_messages, "fill_results_s": fill_results,
                "settle_s": settle, "sizes": sizes, **drained}


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n < 2**30 else f"{n / 2**30:,.2f} GiB"


def table(cases: list[dict[str, Any]], reference: float) -> str:
    head = ["case", "ready messages", "results present", "queue table / its indexes (claim index)",
            "result table + indexes", "fill + vacuum, s", "load avg (1 min) at start", "drain rate (median)",
            "ratio to small", "within 20%"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in cases:
        runs = case["runs"]
        s = runs[-1]["sizes"]  # the same rows each run: sizes barely move
        fill = statistics.median(r["fill_messages_s"] + r["fill_results_s"] + r["settle_s"] for r in runs)
        ratio = case["rate"] / reference
        lines.append("| " + " | ".join([
            case["name"], f"{case['backlog']:,}", f"{case['results']:,}",
            f"{mib(s['queue_table'])} / {mib(s['queue_indexes'])} ({mib(s['claim_index'])})",
            mib(s["results_total"]), f"{fill:.0f}", ", ".join(f"{r['load1']:.1f}" for r in runs),
            f"{case['rate']:,.0f}/s ({', '.join(format(r['rate'], ',.0f') for r in runs)})",
            f"{ratio:.2f}", "yes" if ratio >= 0.8 else "**no**",
        ]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="backlogs B, comma-separated")
    parser.add_argument("--results", type=int, default=1_000_000, help="finished results present (0: no case)")
    parser.add_argument("--drain", type=int, default=5000, help="tasks timed per run (D); also the small case")
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--queues", type=int, default=1, help="queues the backlog is spread over (-Q)")
    args = parser.parse_args(argv)

    url = os.environ["BENCH_DATABASE_URL"]
    problem = prepare_database(url)
    if problem:
        raise SystemExit(f"{url}: {problem}")
    d = args.drain
    specs = [("small", d, 0)]
    specs += [(f"backlog {b:,}", b, 0) for b in (int(x) for x in args.sizes.split(",") if x) if b != d]
    if args.results:
        specs.append((f"{args.results:,} results", d, args.results))

    scale = Scale(args.queues)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    # others edit this working tree: say when the code measured is not exactly the commit
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                      text=True).stdout.strip():
        commit += " (working tree modified)"
    say(f"scale: verifying that a worker runs the generated rows ({VERIFY_N})")
    with bench_lock():
        scale.verify()
    raw: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in specs}
    for r in range(args.runs):
        # rotated from run to run, so the machine's drift spreads over the cases
        for name, backlog, results in specs[r % len(specs):] + specs[:r % len(specs)]:
            say(f"run {r + 1}/{args.runs}: {name} (B={backlog:,}, R={results:,}, D={d:,})")
            out = scale.run_case(backlog, results, d)
            raw[name].append(out)
            say(f"  load {out['load1']:.1f}; fill {out['fill_messages_s']:.1f}s + results "
                f"{out['fill_results_s']:.1f}s + vacuum {out['settle_s']:.1f}s; {out['rate']:,.0f}/s")
    cases = [{"name": name, "backlog": backlog, "results": results, "runs": raw[name],
              "rate": statistics.median(x["rate"] for x in raw[name])} for name, backlog, results in specs]
    reference = cases[0]["rate"]
    for case in cases:
        case["ratio"] = case["rate"] / reference
        case["within_20pct"] = case["ratio"] >= 0.8
    md = table(cases, reference)
    header = (f"Measured {started}, commit {commit}, PostgreSQL {url.rsplit('@', 1)[-1]}; "
              f"D = {d:,} tasks timed per run, prefork -c 2 -Q {','.join(scale.queues)}, results stored; "
              f"median of {args.runs} run(s) "
              f"(each run's rate in parentheses); shared_buffers "
              f"{mib(cases[0]['runs'][0]['sizes']['shared_buffers'])}.")
    print(f"{header}\n\n{md}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(
        {"started": started, "commit": commit, "database": url, "drain": d, "runs": args.runs,
         "queues": scale.queues, "cpus": os.cpu_count(), "cases": cases}, indent=1))
    say("scale: wrote bench/results/scale.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
