"""Run the whole comparison: ``python -m bench`` (or ``python bench/run.py``).

Systems: celery_compat on SQLite, PostgreSQL and MariaDB; real Celery with a
Redis broker and Redis results (the reference every ratio is taken
against); real Celery on the ``django://`` transport (PostgreSQL); huey on
SQLite (the SQLite target's competitor), from a virtualenv of its own that
this command makes once under ``var/bench-venvs/huey``. Each run
goes through every system once, in an order rotated from run to run so the
machine's drift spreads over all of them; the table shows medians over the
runs (latency: median and p99 over all samples) and the ratio to Celery +
Redis, oriented so that above 1 is better. A system whose server is not
reachable (or huey that could not be installed) is skipped with a note.

Writes ``bench/results/latest.json`` and ``latest.md`` (``--quick``:
``quick.json``/``quick.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/dcc_bench")
MARIADB_URL = os.environ.get("BENCH_MARIADB_URL", "mysql://root@127.0.0.1:3306/dcc_bench")
SQLITE_URL = "sqlite:///var/bench.sqlite3"
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
REFERENCE = "celery-redis"
# huey runs from a virtualenv of its own, so that it never becomes a dependency of the project.
HUEY_VENV = ROOT / "var" / "bench-venvs" / "huey"
HUEY_PYTHON = HUEY_VENV / "bin" / "python"

#: name -> (label, workloads config, environment)
SYSTEMS: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "compat-pg": ("celery_compat PostgreSQL", {"kind": "compat"}, {"BENCH_DATABASE_URL": PG_URL}),
    "celery-redis": ("Celery + Redis", {"kind": "celery", "broker": "redis"},
                     {"BENCH_BROKER": "redis", "BENCH_BROKER_DB": "15", "BENCH_RESULT_DB": "14"}),
    "compat-sqlite": ("celery_compat SQLite", {"kind": "compat"}, {"BENCH_DATABASE_URL": SQLITE_URL}),
    "celery-django-pg": ("Celery on django:// (PG)", {"kind": "celery", "broker": "django"},
                         {"BENCH_BROKER": "django", "BENCH_RESULT_DB": "13", "BENCH_DATABASE_URL": PG_URL}),
    "compat-mariadb": ("celery_compat MariaDB", {"kind": "compat"}, {"BENCH_DATABASE_URL": MARIADB_URL}),
    "huey-sqlite": ("huey SQLite", {"kind": "huey"}, {}),
    # Not in the targets: the opt-in asynchronous start marks, beside the default.
    "compat-pg-async": ("celery_compat PG, both synchronous_commit options False", {"kind": "compat"},
                        {"BENCH_DATABASE_URL": PG_URL, "BENCH_SYNCHRONOUS_COMMIT": "off"}),
}

FULL = {"delay": 2000, "atomic": 1000, "drain": 10_000, "latency": 30}
QUICK = {"delay": 200, "atomic": 1000, "drain": 500, "latency": 5}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- setup ----------------------------------------------------------------------------


def _db_env(url: str) -> dict[str, str]:
    return dict(os.environ, BENCH_DATABASE_URL=url, DJANGO_SETTINGS_MODULE="bench.settings",
                PYTHONPATH=str(ROOT))


def prepare_database(url: str) -> str | None:
    """Create the benchmark database if needed and migrate it; an error text if unreachable."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    try:
        if parts.scheme.startswith("postgres"):
            import psycopg

            with psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                                 dbname="postgres", autocommit=True, connect_timeout=5) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                    conn.execute(f'CREATE DATABASE "{name}"')
        elif parts.scheme.startswith(("mysql", "mariadb")):
            import MySQLdb

            conn = MySQLdb.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                                   password=parts.password or "", connect_timeout=5)
            conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
            conn.close()
    except Exception as exc:  # not running, no driver: the system is skipped
        return f"{type(exc).__name__}: {exc}"
    proc = subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
                          cwd=ROOT, env=_db_env(url), capture_output=True, text=True)
    if proc.returncode:
        return f"migrate failed: {proc.stderr.strip()[-500:]}"
    return None


def redis_reachable() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def huey_venv() -> str | None:
    """Make the huey virtualenv unless it is there already; an error text if huey cannot be installed."""
    if HUEY_PYTHON.exists() and subprocess.run([str(HUEY_PYTHON), "-c", "import huey"],
                                               capture_output=True).returncode == 0:
        return None
    say(f"installing huey into {HUEY_VENV.relative_to(ROOT)}")
    for step, cmd in (("python -m venv", [sys.executable, "-m", "venv", "--clear", str(HUEY_VENV)]),
                      ("pip install huey", [str(HUEY_PYTHON), "-m", "pip", "install", "--quiet", "huey"])):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            tail = " ".join((proc.stderr or proc.stdout).split())[-300:]  # one line: a note under the table
            return f"could not install huey ({step} failed): {tail}"
    return None


def versions() -> dict[str, Any]:
    import importlib.metadata as md
    import sqlite3

    out: dict[str, Any] = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for dist in ("django", "celery", "kombu", "redis", "psycopg", "mysqlclient", "billiard"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    try:
        import redis

        out["redis-server"] = redis.Redis.from_url(REDIS_URL).info()["redis_version"]
    except Exception:
        pass
    for key, url, sql in (("postgresql-server", PG_URL, "SHOW server_version"),
                          ("mariadb-server", MARIADB_URL, "SELECT VERSION()")):
        code = ("import django; django.setup(); from django.db import connection; "
                f"c = connection.cursor(); c.execute({sql!r}); print(c.fetchone()[0])")
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_db_env(url),
                              capture_output=True, text=True)
        if proc.returncode == 0:
            out[key] = proc.stdout.strip()
    if HUEY_PYTHON.exists():
        proc = subprocess.run([str(HUEY_PYTHON), "-c", "import huey; print(huey.__version__)"],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            out["huey"] = proc.stdout.strip()
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    out["git"] = git.stdout.strip()
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    info["loadavg_start"] = os.getloadavg()
    return info


# -- running --------------------------------------------------------------------------


def run_system(name: str, n: dict[str, int]) -> dict[str, Any]:
    label, config, extra_env = SYSTEMS[name]
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCH_REDIS=REDIS_URL, **extra_env)
    cmd = [sys.executable, "-m", "bench.workloads", name, json.dumps(dict(config, n=n))]
    if config["kind"] == "huey":  # its own virtualenv; the script imports neither Django nor the project
        cmd = [str(HUEY_PYTHON), str(ROOT / "bench" / "huey_workload.py"), json.dumps(dict(config, n=n))]
        env.pop("PYTHONPATH")
        env.pop("DJANGO_SETTINGS_MODULE", None)
    elif config["kind"] == "compat" or config.get("broker") == "django":
        env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    else:
        env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        return {"system": name, "error": f"exit {proc.returncode}"}
    return json.loads(lines[-1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0].get("error") if runs else "not run"}
    out: dict[str, Any] = {"runs": len(ok), "failed_runs": len(runs) - len(ok)}
    for key in ("delay", "atomic", "atomic_batch", "drain", "drain_ignore"):
        if key in ok[0]:
            out[key] = statistics.median(r[key] for r in ok)
    if "group" in ok[0]:
        out["group"] = statistics.median(v for r in ok for v in r["group"])
    if "pss_kib" in ok[0]:
        out["pss_mib"] = statistics.median(r["pss_kib"] for r in ok) / 1024
    if "latency_ms" in ok[0]:
        lat = [v for r in ok for v in r["latency_ms"]]
        out["latency_median"] = statistics.median(lat)
        out["latency_p99"] = percentile(lat, 0.99)
    return out


#: (key, row label, unit, higher is better)
ROWS = [
    ("delay", "`delay()` autocommit", "/s", True),
    ("atomic", "1,000 `delay()` in one `atomic()`", "/s", True),
    ("atomic_batch", "the same inside `publish_batch()` (ours only)", "/s", True),
    ("group", "`group` of N published at once", "/s", True),
    ("drain", "drain N, prefork -c 2, results", "/s", True),
    ("drain_ignore", "drain N, prefork -c 2, `ignore_result`", "/s", True),
    ("latency_median", "idle latency, median", "ms", False),
    ("latency_p99", "idle latency, p99", "ms", False),
    ("pss_mib", "worker PSS (process tree)", "MiB", False),
]


class _Missing(dict):
    """A summary where a workload that was not run compares as not met."""

    def __missing__(self, key: str) -> float:
        return float("nan")


def targets(summary: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The issue's targets, judged on this run's numbers."""
    out = _pg_targets(summary)
    # "SQLite: drain at least as fast as huey on SQLite" (huey: threads, no results).
    sqlite, huey = summary.get("compat-sqlite", {}), summary.get("huey-sqlite", {})
    if "drain_ignore" in sqlite and "drain_ignore" in huey:
        met = sqlite["drain_ignore"] >= huey["drain_ignore"]
        text = ("met: " if met else "NOT met: ") + "SQLite ≥ huey SQLite"
        out["drain_ignore"] = f"{out['drain_ignore']}; {text}" if "drain_ignore" in out else text
    return out


def _pg_targets(summary: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The targets on celery_compat PostgreSQL, against Celery + Redis."""
    pg, ref = summary.get("compat-pg", {}), summary.get(REFERENCE, {})
    out: dict[str, str] = {}

    def judge(key: str, ok: bool, text: str) -> None:
        out[key] = ("met: " if ok else "NOT met: ") + text

    if "error" in pg or "error" in ref or not pg or not ref:
        return out
    pg, ref = _Missing(pg), _Missing(ref)
    judge("delay", pg["delay"] >= 1.5 * ref["delay"], "≥ 1.5× Celery+Redis")
    judge("atomic", pg["atomic"] >= 10_000, "≥ 10,000/s")
    judge("group", pg["group"] >= 10_000, "≥ 10,000/s")
    judge("drain", pg["drain"] >= 1.5 * ref["drain"], "≥ 1.5× Celery+Redis")
    judge("drain_ignore", pg["drain_ignore"] >= 2 * ref["drain_ignore"], "≥ 2× Celery+Redis")
    polled = [summary[s]["latency_median"] for s in ("compat-sqlite", "compat-mariadb")
              if s in summary and "latency_median" in summary[s]]
    judge("latency_median", pg["latency_median"] <= ref["latency_median"], "PG ≤ Celery+Redis")
    if polled:  # judged apart: one line must not hide which half is met
        polled_ok = all(m < 50 for m in polled)
        out["latency_median"] += ("; met: " if polled_ok else "; NOT met: ") + "SQLite, MariaDB < 50 ms"
    judge("latency_p99", pg["latency_p99"] < 20, "< 20 ms")
    judge("pss_mib", pg["pss_mib"] <= ref["pss_mib"], "≤ Celery+Redis")
    return out


def fmt(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:.0f} MiB"


def table(summary: dict[str, dict[str, Any]], systems: list[str], n: dict[str, int]) -> str:
    ref = summary.get(REFERENCE, {})
    head = ["workload"] + [SYSTEMS[s][0] for s in systems] + ["target (celery_compat PostgreSQL unless named)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    judged = targets(summary)
    for key, label, unit, higher in ROWS:
        cells = [label.replace("N", f"{n['drain']:,}")]
        for s in systems:
            row = summary.get(s, {})
            if "error" in row or key not in row:
                cells.append("—")
                continue
            cell = fmt(row[key], unit)
            if s != REFERENCE and ref.get(key):
                ratio = row[key] / ref[key] if higher else ref[key] / max(row[key], 1e-9)
                cell += f" ({ratio:.2f}×)"
            cells.append(cell)
        cells.append(judged.get(key, ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N, one run: a smoke test (about a minute)")
    parser.add_argument("--runs", type=int, help="runs per system (default 3; --quick: 1)")
    parser.add_argument("--systems", help=f"comma-separated subset of: {', '.join(SYSTEMS)}")
    parser.add_argument("--drain-n", type=int, help="tasks per drain and group (default 10,000)")
    parser.add_argument("--latency-samples", type=int, help="latency samples per run (default 30)")
    parser.add_argument("--out", help="basename under bench/results/ (default latest, --quick: quick)")
    args = parser.parse_args(argv)

    n = dict(QUICK if args.quick else FULL)
    if args.drain_n:
        n["drain"] = args.drain_n
    if args.latency_samples:
        n["latency"] = args.latency_samples
    runs = args.runs or (1 if args.quick else 3)
    wanted = [s.strip() for s in args.systems.split(",")] if args.systems else list(SYSTEMS)
    unknown = [s for s in wanted if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system(s) {unknown}: choose from {list(SYSTEMS)}")
    if REFERENCE not in wanted:
        say(f"note: {REFERENCE} not selected: no ratios")

    began = time.monotonic()
    info = {"machine": machine(), "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "n": n, "runs": runs}
    say(f"bench: {runs} run(s) of {', '.join(wanted)}; N={n}")
    notes: dict[str, str] = {}
    checked: dict[str, str | None] = {}
    for s in wanted:
        url = SYSTEMS[s][2].get("BENCH_DATABASE_URL")
        if url is not None and url not in checked:
            say(f"preparing {url}")
            checked[url] = prepare_database(url)
        problem = checked.get(url) if url else None
        if problem is None and SYSTEMS[s][1]["kind"] == "celery":
            problem = redis_reachable()
        if problem is None and SYSTEMS[s][1]["kind"] == "huey":
            problem = huey_venv()
        if problem:
            notes[s] = f"skipped: {problem}"
            say(f"{s}: {notes[s]}")
    active = [s for s in wanted if s not in notes]
    info["versions"] = versions()

    raw: dict[str, list[dict[str, Any]]] = {s: [] for s in active}
    for r in range(runs):
        order = active[r % len(active):] + active[: r % len(active)] if active else []
        for s in order:
            say(f"run {r + 1}/{runs}: {s}")
            start = time.monotonic()
            raw[s].append(run_system(s, n))
            say(f"run {r + 1}/{runs}: {s} done in {time.monotonic() - start:.0f}s"
                + (f" ERROR {raw[s][-1]['error']}" if "error" in raw[s][-1] else ""))

    summary = {s: summarize(raw[s]) for s in active}
    info["machine"]["loadavg_end"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - began)
    shown = [s for s in SYSTEMS if s in active]
    md = table(summary, shown, n)
    header = (f"Measured {info['started']} on {info['machine'].get('cpu', '?')} "
              f"({info['machine']['cpus']} CPUs), load average at start "
              f"{', '.join(f'{x:.1f}' for x in info['machine']['loadavg_start'])}; "
              f"medians of {runs} run(s); ratios vs Celery + Redis, above 1 = better "
              f"(latency and memory: Celery's value / ours).")
    vers = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    note_lines = "".join(f"\n- {s}: {text}" for s, text in notes.items())
    failures = "".join(f"\n- {s}: {v['failed_runs']} failed run(s)" for s, v in summary.items()
                       if v.get("failed_runs")) + "".join(
        f"\n- {s}: {v['error']}" for s, v in summary.items() if "error" in v)
    report = f"{header}\n\n{md}\n\nVersions: {vers}.{note_lines}{failures}\n"
    print(report)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    base = args.out or ("quick" if args.quick else "latest")
    (out / f"{base}.md").write_text(report)
    (out / f"{base}.json").write_text(json.dumps(
        {**info, "summary": summary, "targets": targets(summary), "notes": notes, "raw": raw}, indent=1))
    say(f"bench: done in {info['seconds']}s; wrote bench/results/{base}.md and .json")
    return 1 if any("error" in v or v.get("failed_runs") for v in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
