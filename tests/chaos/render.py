"""Render the chaos results file as the Markdown table of docs/reliability.md.

    python -m tests.chaos.render --command "<the command that produced the rows>" \\
        [--results var/chaos-results.jsonl] [--doc docs/reliability.md]

Keeps the latest row of each (test, database) pair and replaces the text
between the ``chaos-table`` markers of the document, so the table always
comes from an actual run, stated with its command.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START = "<!-- chaos-table:start -->"
END = "<!-- chaos-table:end -->"
DB_ORDER = {"postgresql": 0, "mysql": 1, "sqlite": 2}


def load(path: Path) -> list[dict]:
    latest: dict[tuple[str, str], dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            latest[(row["test"] or row["fault"], row["database"])] = row
    return sorted(latest.values(), key=lambda r: (r["test"], DB_ORDER.get(r["database"], 9)))


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _failed(row: dict) -> str:
    if not row["failed_with_reason"]:
        return "0"
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(row["reasons"].items()))
    return f"{row['failed_with_reason']} ({reasons})"


def table(rows: list[dict], command: str) -> str:
    dates = sorted(r["at"] for r in rows)
    scales = sorted({r["scale"] for r in rows})
    loads = [r.get("loadavg") for r in rows if r.get("loadavg") is not None]
    lines = [
        f"Run {dates[0]} – {dates[-1]} (UTC), CHAOS_SCALE={', '.join(f'{s:g}' for s in scales)}, "
        f"{rows[0].get('cpus', '?')} CPUs shared with other jobs (1-minute load average "
        f"{min(loads):g}–{max(loads):g} during the run), with:",
        "",
        "```sh",
        command,
        "```",
        "",
        "| fault | database | tasks | lost | duplicated | failed with reason | recovery (s) | all settled (s) | notes |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        notes = r["notes"].replace("|", "\\|")
        lines.append(
            f"| {r['fault']} | {r['database']} | {r['tasks']} | {r['lost']} | {r['duplicated']} | "
            f"{_failed(r)} | {_seconds(r['recovery_s'])} | {_seconds(r.get('settle_s'))} | {notes} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "var" / "chaos-results.jsonl")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--command", required=True, help="the command that produced the results")
    args = parser.parse_args(argv)
    rendered = table(load(args.results), args.command)
    text = args.doc.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{args.doc} has no {START} … {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    args.doc.write_text(f"{head}{START}\n{rendered}\n{END}{tail}")
    print(f"{args.doc}: {len(load(args.results))} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
