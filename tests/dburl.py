"""DATABASE_URL → Django DATABASES entry (sqlite, postgres, mysql/mariadb)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

ENGINES = {
    "sqlite": "django.db.backends.sqlite3",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "pgsql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
    "mariadb": "django.db.backends.mysql",
}


def parse(url: str, base_dir: Path) -> dict[str, Any]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ENGINES:
        raise ValueError(
            f"DATABASE_URL scheme {parts.scheme!r} is not supported: use sqlite:///path, "
            f"postgres://user@host:port/name or mysql://user@host:port/name"
        )
    engine = ENGINES[scheme]
    if scheme == "sqlite":
        path = unquote(parts.path)[1:] if parts.path.startswith("//") else unquote(parts.path).lstrip("/") or "db.sqlite3"
        name = Path(path) if os.path.isabs(path) else base_dir / path
        return {
            "ENGINE": engine,
            "NAME": str(name),
            # A file, not memory: worker subprocesses must see the test data.
            "TEST": {"NAME": str(name.with_name("test_" + name.name))},
            "OPTIONS": {
                "timeout": 30,
                # Take the write lock at BEGIN: a deferred transaction that
                # reads then writes fails at once when another process wrote
                # in between, without waiting for the busy timeout.
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    options = dict(parse_qsl(parts.query))
    entry: dict[str, Any] = {
        "ENGINE": engine,
        "NAME": unquote(parts.path.lstrip("/")) or "test",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
    }
    if engine.endswith("mysql"):
        entry["OPTIONS"] = {"charset": "utf8mb4", "isolation_level": "read committed", **options}
        entry["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return entry
