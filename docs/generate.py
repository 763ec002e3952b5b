"""Generate docs/configuration.md from the code: ``python3 dev.py docs``.

Every Celery setting comes from ``celery_compat.config.DEFAULTS`` and every
transport option from ``kombu_transport_django.options.TransportOptions``
(its ``#:`` comments are the descriptions). Whether celery_compat reads a
setting at all is found by looking for its name in the package's source,
so the reference says honestly which settings are accepted only for
compatibility. tests/unit/test_docs.py fails when the file is out of date.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "configuration.md"
CELERY_DOCS = "https://docs.celeryq.dev/en/stable/userguide/configuration.html#std-setting-{}"

#: What is particular to celery_compat about a setting (Celery's docs say the rest).
NOTES = {
    "broker_url": "**differs from Celery** (no default broker there): the queues are tables in the "
                  "Django database",
    "result_backend": "**differs from Celery**: results in celery_compat's tables (`TaskResult`, "
                      "`GroupResult`, `ChordCounter`); `django-db` is django-celery-results' name for the same",
    "beat_scheduler": "**differs from Celery** (`celery.beat:PersistentScheduler`): schedules in the database",
    "broker_transport_options": "the `django://` options below",
    "broker_use_ssl": "the database connection's TLS is set in Django's `DATABASES[...]['OPTIONS']`",
    "broker_heartbeat": "AMQP heartbeats; `django://` consumers heartbeat with the `heartbeat_interval` option",
    "broker_read_url": "one database serves reads and writes",
    "task_protocol": "always 2 (Celery's default since 4.0)",
    "task_send_sent_event": "the `django://` transport has no event stream; the admin and "
                            "`celery_compat status` read the tables instead",
    "worker_send_task_events": "as `task_send_sent_event`",
    "result_expires": "expired rows are deleted by `celery.backend_cleanup`, which beat runs daily at 04:00 "
                      "as Celery's does, or by `manage.py celery_compat prune`",
    "task_default_queue": "the queue table rows' `queue` column",
    "timezone": "defaults to Django's `TIME_ZONE` when unset",
}

#: Transport options whose default needs words, or that have no ``#:`` comment.
OPTION_NOTES = {
    "polling_interval": ("`1.0` on PostgreSQL with LISTEN/NOTIFY, else `0.05`",
                         "longest sleep between two empty polls, seconds"),
    "min_polling_interval": (None, "first sleep after activity, seconds; doubles up to `polling_interval`"),
}

#: celery_compat's own settings (not Celery's): name → (module, attribute holding the default, meaning).
#: The default is read from the code. Found by scanning for ``conf.get("name")``/``conf.name``; a setting
#: read in the code but missing here fails the generator (and so tests/unit/test_docs.py).
OWN_SETTINGS = {
    "task_log_lines": ("celery_compat.tasklog", "DEFAULT_LOG_LINES",
                       "lines a task logs through `get_task_logger` kept with its result (`TaskResult.log`), "
                       "the last N; `0` keeps none (see [admin.md](admin.md#task-logs))"),
    "beat_run_expires": ("celery_compat.beat.scheduler", "DEFAULT_RUN_EXPIRES",
                         "how long beat's claim rows (one per sent run) are kept; a timedelta or seconds "
                         "(see [beat.md](beat.md))"),
}
#: ``conf.<name>`` that are not settings
NOT_SETTINGS = {"setter"}

SECTIONS = [
    ("General", ("accept_content", "enable_utc", "imports", "include", "timezone")),
    ("Broker", ("broker_",)),
    ("Results", ("result_",)),
    ("Tasks", ("task_",)),
    ("Worker", ("worker_",)),
    ("Beat", ("beat_",)),
    ("Remote control and events", ("control_", "event_")),
]


def fmt(value: Any) -> str:
    """A default as a person writes it in settings.py."""
    if isinstance(value, dt.timedelta):
        return f"`timedelta(seconds={value.total_seconds():g})`"
    if isinstance(value, tuple) and len(value) == 1:
        return f"`{value!r}`"
    text = repr(value)
    return f"`{text}`" if len(text) < 60 else f"`{text[:57]}...`"


def read_by_package(name: str, sources: dict[Path, str]) -> bool:
    # conf.name, conf["name"], getattr(conf, "name"): not the word in prose.
    pattern = re.compile(rf"(\.{re.escape(name)}\b|[\"']{re.escape(name)}[\"'])")
    return any(pattern.search(text) for text in sources.values())


def package_sources() -> dict[Path, str]:
    package = ROOT / "celery_compat"
    skip = {package / "config.py"}
    return {
        path: path.read_text()
        for path in package.rglob("*.py")
        if path not in skip and "migrations" not in path.parts
    }


def settings_read(sources: dict[Path, str]) -> set[str]:
    """Names read as ``conf.get("x")``, ``conf["x"]`` or ``conf.x`` anywhere in the package."""
    from celery_compat.config import Settings

    methods = {name for name in dir(Settings) if not name.startswith("_")}
    pattern = re.compile(r"conf(?:\.get\(\s*|\[)[\"'](\w+)[\"']|conf\.([a-z_][a-z0-9_]*)\b")
    names = set()
    for text in sources.values():
        for match in pattern.finditer(text):
            names.add(match.group(1) or match.group(2))
    return names - methods - NOT_SETTINGS


def option_comments() -> dict[str, str]:
    """The ``#:`` comment above each field of TransportOptions."""
    path = ROOT / "kombu_transport_django" / "options.py"
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    comments: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "TransportOptions":
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    text = []
                    index = stmt.lineno - 2
                    while index >= 0 and lines[index].strip().startswith("#:"):
                        text.insert(0, lines[index].strip()[2:].strip())
                        index -= 1
                    comments[stmt.target.id] = rst_to_markdown(" ".join(text))
    return comments


def rst_to_markdown(text: str) -> str:
    """``code`` and :role:`target` from docstrings/comments, as Markdown code spans."""
    text = re.sub(r":[a-z]+:`[.~]?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def render() -> str:
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    if not settings.configured:  # run as a script: the models need an app registry
        import os

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
        django.setup()
    from celery_compat.config import DEFAULTS
    from kombu_transport_django.options import TransportOptions

    sources = package_sources()
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python3 dev.py docs` (docs/generate.py) from celery_compat/config.py and",
        "     kombu_transport_django/options.py. Do not edit by hand: tests/unit/test_docs.py compares. -->",
        "",
        "celery_compat reads Celery's settings, with Celery's names and defaults, the way Celery does:",
        "`app.config_from_object(\"django.conf:settings\", namespace=\"CELERY\")` turns",
        "`CELERY_TASK_SERIALIZER` in settings.py into `task_serializer`. The meaning of each",
        "setting is Celery's (the name links to Celery's documentation); the notes say what is",
        "particular to celery_compat.",
        "",
        "*Read* says whether celery_compat's code uses the setting. Settings it does not read are",
        "accepted and kept (`app.conf` returns them) so a Celery project's settings load unchanged,",
        "but they change nothing.",
        "",
    ]
    done: set[str] = set()
    for title, prefixes in SECTIONS:
        names = sorted(n for n in DEFAULTS if n not in done and any(n == p or n.startswith(p) for p in prefixes))
        if not names:
            continue
        out += [f"## {title}", "", "| setting | default | read | notes |", "|---|---|---|---|"]
        for name in names:
            done.add(name)
            read = "yes" if read_by_package(name, sources) else "no"
            note = NOTES.get(name, "")
            out.append(f"| [`{name}`]({CELERY_DOCS.format(name)}) | {fmt(DEFAULTS[name])} | {read} | {note} |")
        out.append("")
    rest = [n for n in DEFAULTS if n not in done]
    assert not rest, f"settings in no section of docs/generate.py: {rest}"

    unknown = settings_read(sources) - set(DEFAULTS) - set(OWN_SETTINGS)
    assert not unknown, f"settings read in celery_compat but not documented: add them to OWN_SETTINGS in docs/generate.py: {sorted(unknown)}"
    import importlib

    out += [
        "## celery_compat's own settings",
        "",
        "Not Celery settings: set them the same way (`CELERY_TASK_LOG_LINES` in settings.py).",
        "",
        "| setting | default | meaning |",
        "|---|---|---|",
    ]
    for name, (module, attribute, meaning) in sorted(OWN_SETTINGS.items()):
        default = getattr(importlib.import_module(module), attribute)
        out.append(f"| `{name}` | {fmt(default)} | {meaning} |")
    out.append("")

    comments = option_comments()
    out += [
        "## `django://` transport options",
        "",
        "Set them in `CELERY_BROKER_TRANSPORT_OPTIONS` (kombu's `transport_options`). Unknown keys",
        "are ignored (kombu and Celery keep their own keys there); a bad value fails at connection",
        "time with `ImproperlyConfigured` naming the option.",
        "",
        "| option | default | meaning |",
        "|---|---|---|",
    ]
    for field in dataclasses.fields(TransportOptions):
        default_text, meaning = OPTION_NOTES.get(field.name, (None, None))
        default = default_text or fmt(field.default)
        meaning = meaning or comments.get(field.name) or ""
        assert meaning, f"transport option {field.name} has no #: comment in options.py and no OPTION_NOTES entry"
        out.append(f"| `{field.name}` | {default} | {meaning} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    text = render()
    if sys.argv[1:] == ["--check"]:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        sys.exit(0 if current == text else f"{OUTPUT} is out of date: run python3 dev.py docs")
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
