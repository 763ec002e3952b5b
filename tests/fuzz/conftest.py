"""The fuzz tests' app: a celery_compat app on the test database."""

from __future__ import annotations

import os

from hypothesis import settings

from tests.helpers.fixtures import app_fixture

# Examples per property: small in CI, FUZZ_EXAMPLES=1000 for a long hunt.
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", 25)), deadline=None,
                          derandomize=bool(os.environ.get("CI")), print_blob=True)


app = app_fixture("tests.fuzz", "tests.fuzz.tasks")
