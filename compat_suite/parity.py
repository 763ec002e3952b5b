"""The parity table: scenario × implementation, with the differences.

Scenarios record what they observe through ``impl.check(observed, expected)``.
At the end of the session the observations of each scenario are compared
across the implementations: a difference not listed in ``differences.py``
fails the run (exit status 1) even when each side met its own expectation.
The table is printed and written as Markdown to ``compat_suite/PARITY.md``
(one section per database vendor) when the whole suite ran.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

PARITY_FILE = Path(__file__).resolve().parent / "PARITY.md"
IMPLS = ["celery", "celery_django", "celery_compat", "wire"]
#: the reference every other implementation is compared with
REFERENCE = "celery"
#: set by the runtimes when they start: what the reference ran on
REFERENCE_SETUP: dict[str, str] = {}

#: scenario → impl → observations, outcome
OBSERVED: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
OUTCOME: dict[str, dict[str, str]] = defaultdict(dict)
DELIBERATE: dict[str, set[str]] = defaultdict(set)
ROWS: list[tuple[str, str, str, str]] = []


def scenario_of(item: Any) -> tuple[str, str]:
    """``(scenario id, implementation)`` of a test item."""
    nodeid = item.nodeid
    callspec = getattr(item, "callspec", None)
    impl = callspec.params.get("impl") if callspec else None
    if impl is not None:
        match = re.search(r"\[(.*)\]$", nodeid)
        inner = match.group(1) if match else ""
        parts = inner.split("-")
        # the impl is one dash-separated part of the id; the other params stay
        for i in range(len(parts)):
            if parts[i] == impl or (impl == "celery_compat" and parts[i] == "celery_compat"):
                del parts[i]
                break
        rest = "-".join(parts)
        nodeid = nodeid[: match.start()] if match else nodeid
        if rest:
            nodeid = f"{nodeid}[{rest}]"
    return nodeid.replace("compat_suite/", ""), impl or "wire"


def record(item: Any, impl: str, observed: Any, deliberate: str | None) -> None:
    scenario, _ = scenario_of(item)
    OBSERVED[scenario][impl].append(observed)
    if deliberate:
        DELIBERATE[scenario].add(deliberate)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    scenario, impl = scenario_of(item)
    if report.when == "call" or report.outcome != "passed":
        previous = OUTCOME[scenario].get(impl)
        if previous in (None, "passed"):
            OUTCOME[scenario][impl] = report.outcome


def _compare() -> list[tuple[str, ...]]:
    """One row per scenario: its outcome per implementation and the difference.

    Each implementation's observations are compared with the reference's
    (real Celery on a stock broker); a difference is explained only by a
    ``deliberate(...)`` the scenario declared, listed in ``differences.py``.
    """
    from compat_suite.differences import DIFFERENCES

    rows = []
    for scenario in sorted(OUTCOME):
        outcomes = OUTCOME[scenario]
        seen = OBSERVED.get(scenario, {})
        if "wire" in outcomes:
            diff = "" if outcomes["wire"] == "passed" else "wire scenario failed"
        else:
            differing = [i for i in IMPLS[1:-1] if REFERENCE in seen and i in seen and seen[i] != seen[REFERENCE]]
            names = DELIBERATE.get(scenario)
            if differing and names:
                diff = ("deliberate (" + ", ".join(differing) + "): " + ", ".join(sorted(names)) + " — " +
                        "; ".join(DIFFERENCES[n].reason.split(". ")[0] for n in sorted(names)))
            elif differing:
                diff = "UNEXPLAINED: " + " ".join(f"{i}={seen[i]!r}" for i in [REFERENCE, *differing])
            else:
                bad = [i for i, o in outcomes.items() if o != "passed"]
                diff = ("failed on " + ", ".join(bad)) if bad else ""
        rows.append((scenario, *(outcomes.get(i, "-") for i in IMPLS), diff))
    return rows


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def _markdown(rows: list[Any], vendor: str) -> str:
    setup = "; ".join(f"`{name}` on {REFERENCE_SETUP[name]}" for name in IMPLS if name in REFERENCE_SETUP)
    lines = [
        f"<!-- parity:{vendor} -->",
        f"## {vendor}",
        "",
        f"Implementations: {setup}. Scenarios: {len(rows)}; "
        f"unexplained differences: {sum(1 for r in rows if r[-1].startswith('UNEXPLAINED'))}.",
        "",
        "| scenario | " + " | ".join(IMPLS) + " | difference |",
        "|---|" + "---|" * (len(IMPLS) + 1),
    ]
    for scenario, *cells in rows:
        lines.append("| " + " | ".join([f"`{scenario}`", *[c.replace("|", "\\|") for c in cells]]) + " |")
    lines.append(f"<!-- /parity:{vendor} -->")
    return "\n".join(lines) + "\n"


def _write(text: str, vendor: str) -> None:
    import fcntl

    # Runs on several databases at once (CI) each rewrite their own section.
    lock_path = PARITY_FILE.parent.parent / "var" / "parity.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_section(text, vendor)


def _write_section(text: str, vendor: str) -> None:
    header = ("# Parity table\n\nWritten by `compat_suite/parity.py` at the end of a full "
              "`python -m pytest compat_suite` run, one section per database. Deliberate "
              "differences are listed with their reasons in `compat_suite/differences.py`.\n\n")
    old = PARITY_FILE.read_text() if PARITY_FILE.exists() else header
    pattern = re.compile(rf"<!-- parity:{vendor} -->.*?<!-- /parity:{vendor} -->\n", re.S)
    new = pattern.sub(lambda m: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    PARITY_FILE.write_text(new)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if not OUTCOME:
        return
    rows = _compare()
    ROWS[:] = rows
    if any(r[-1].startswith("UNEXPLAINED") for r in rows):
        session.exitstatus = 1
    full = not session.config.option.keyword and not session.config.option.markexpr and \
        not getattr(session.config.option, "lf", False) and len(rows) >= 60 and not any("::" in a for a in session.config.args)
    if full or os.environ.get("COMPAT_WRITE_PARITY"):
        try:
            _write(_markdown(rows, _vendor()), _vendor())
        except Exception as exc:  # the table must not hide the test results
            print(f"parity: could not write {PARITY_FILE}: {exc}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = ROWS
    if not rows:
        return
    tr = terminalreporter
    tr.section("parity: scenario × implementation")
    width = max(len(r[0]) for r in rows)
    tr.write_line(f"{'scenario':<{width}}  " + " ".join(f"{i[:13]:<13}" for i in IMPLS) + " difference")
    for scenario, *cells in rows:
        tr.write_line(f"{scenario:<{width}}  " + " ".join(f"{c:<13}" for c in cells[:-1]) + f" {cells[-1]}")
    unexplained = sum(1 for r in rows if r[-1].startswith("UNEXPLAINED"))
    tr.write_line(f"{len(rows)} scenarios, {unexplained} unexplained differences")
