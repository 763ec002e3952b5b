"""The security tests' fixtures: an app with the fuzz tasks, and django:// connections."""

from __future__ import annotations

from tests.helpers.fixtures import app_fixture, connection_factory  # noqa: F401  (fixture)

app = app_fixture("tests.security", "tests.fuzz.tasks")
