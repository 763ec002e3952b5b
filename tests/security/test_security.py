"""Security properties: pickle stays off, content types are enforced both ways,
no SQL is built from message content, sensitive results can stay unstored.
"""

from __future__ import annotations

import ast
import base64
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from kombu.exceptions import ContentDisallowed

from celery_compat.models import TaskResult
from celery_compat.testing import drain
from kombu_transport_django.models import Message
from tests.chaos.harness import ledger_counts
from tests.conftest import ROOT
from tests.fuzz.messages import Exploit

pytestmark = pytest.mark.django_db(transaction=True)

INJECTION = "x'); DELETE FROM django_kombu_message; --\"; DROP TABLE django_kombu_queue; /*"


def test_pickle_is_not_accepted_by_default(app: Any) -> None:
    assert list(app.conf.accept_content) == ["json"]
    assert app.conf.task_serializer == "json" and app.conf.result_serializer == "json"


def test_a_pickled_result_row_is_refused_on_read(app: Any, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    TaskResult.objects.create(
        task_id="planted", status="SUCCESS", content_type="application/x-python-serialize",
        content_encoding="binary", result=base64.b64encode(pickle.dumps(Exploit(str(marker)))).decode(),
    )

    with pytest.raises(ContentDisallowed):
        app.AsyncResult("planted").get(timeout=5)
    assert not marker.exists()


def test_sql_shaped_queue_and_task_names_are_plain_data(app: Any, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    queue = "q" + INJECTION
    app.send_task("fuzz.good", (str(ledger),), task_id="inj-good", queue=queue)
    app.send_task(INJECTION, (), task_id="inj-task", queue=queue)
    app.send_task("fuzz.good", (str(ledger),), task_id=INJECTION[:200], queue=queue)

    drain(app, queues=[queue], timeout=60)

    assert ledger_counts(ledger) == {"inj-good": 1, INJECTION[:200].split(" ")[0]: 1}
    dead = Message.objects.dead().get()
    assert (dead.queue, dead.task_name, dead.task_id) == (queue, INJECTION, "inj-task")
    assert app.AsyncResult(INJECTION[:200]).get(timeout=5) == INJECTION[:200]
    # Every table is still there and intact.
    tables = set(connection.introspection.table_names())
    assert {"django_kombu_message", "django_kombu_queue"} <= tables


def test_ignore_result_leaves_no_result_row(app: Any, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    app.send_task("fuzz.good", (str(ledger),), task_id="secret-1", ignore_result=True)

    drain(app, timeout=60)

    assert ledger_counts(ledger) == {"secret-1": 1}
    assert not TaskResult.objects.filter(task_id="secret-1").exists()


# -- no SQL from message content (static check) ---------------------------------------

SQL = re.compile(r"\b(SELECT|UPDATE|INSERT|DELETE|LISTEN|NOTIFY|WHERE|ORDER BY|VALUES|SET)\b")
#: what raw SQL strings may interpolate: quoted table/column names, fragments
#: built from constants, placeholder lists (``%s, %s``) and error-message
#: details. Never a queue name, task name, payload or any message field:
#: those are always query parameters.
ALLOWED_NAMES = {
    "table", "set_sql", "where", "order", "into", "placeholders", "row_sql", "quote", "c", "COLUMNS",
    "len", "messages", "ids", "self", "channel", "connection", "alias", "display_name", "version",
    "int", "READY", "LEASED", "DEAD", "n_queues", "priority_reverse", "join", "qn", "opts", "db_table",
    "columns", "WAITERS_TABLE",
    # a constant clock expression (kombu_transport_django.leases._NOW_SQL)
    "now_sql",
    # whole statements with placeholders, built from names and Django's compiler
    "start_sql", "upsert_sql", "select_sql", "union_sql",
    # fixed fragments of the claim (kombu_transport_django.claim._ready_sql)
    "lock_sql", "range_sql", "read_order",
}


def sql_fstrings() -> list[tuple[str, int, set[str]]]:
    found = []
    for package in ("kombu_transport_django", "celery_compat"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.JoinedStr):
                    continue
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if not SQL.search(text):
                    continue
                names: set[str] = set()
                for value in node.values:
                    if isinstance(value, ast.FormattedValue):
                        for sub in ast.walk(value.value):
                            if isinstance(sub, ast.Name):
                                names.add(sub.id)
                            elif isinstance(sub, ast.Attribute):
                                names.add(sub.attr)
                found.append((str(path.relative_to(ROOT)), node.lineno, names))
    return found


def test_raw_sql_interpolates_only_names_and_placeholders() -> None:
    found = sql_fstrings()
    assert found, "the scan found no SQL f-strings at all: the check itself is broken"
    offending = [(path, line, sorted(names - ALLOWED_NAMES)) for path, line, names in found
                 if names - ALLOWED_NAMES]
    assert not offending, (
        "SQL f-strings interpolating something other than quoted names or placeholders "
        f"(pass values as query parameters): {offending}"
    )
