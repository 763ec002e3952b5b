"""Hypothesis strategies for malformed messages, and how to put them in a queue.

A *bad message* is drawn at one of two levels: a raw row in the queue table
(anything a writer to the table could store) or a kombu message with an
arbitrary content type, encoding, body and headers (anything a broken or
hostile publisher could send). Each bad message with a task id carries a
``bad-<n>`` id, so its fate can be looked up afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from hypothesis import strategies as st

from kombu_transport_django.models import Message

QUEUE = "celery"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

#: values that are not a date: a malformed eta/expires must not hold a
#: message for years (the queue would never drain)
not_a_date = st.one_of(st.integers(), st.lists(st.integers(), max_size=2),
                       st.text(alphabet="xyz!?- ", max_size=12))

task_names = st.one_of(st.sampled_from(["fuzz.strict", "fuzz.good.nope", "", "a'; DROP TABLE x; --"]),
                       st.text(max_size=30), st.integers(), st.none())

header_values = {
    "retries": st.one_of(st.integers(), st.text(max_size=5), st.none()),
    "timelimit": st.one_of(st.lists(json_values, max_size=3), st.text(max_size=5), st.none()),
    "eta": not_a_date,
    "expires": not_a_date,
    "group": st.one_of(st.text(max_size=10), st.integers(), st.none()),
    "root_id": st.one_of(st.text(max_size=10), st.none()),
    "parent_id": st.one_of(st.text(max_size=10), st.none()),
    "argsrepr": json_values,
    "origin": json_values,
    "lang": st.one_of(st.just("py"), st.text(max_size=4)),
    "shadow": st.one_of(st.text(max_size=10), st.none()),
}


@dataclass
class Bad:
    """One malformed message: stored as ``row`` or published as kombu parts."""

    kind: str
    row: str | None = None
    body: bytes | str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    headers: dict[str, Any] | None = None


@st.composite
def raw_rows(draw: Any) -> Bad:
    payload = draw(st.one_of(
        # PostgreSQL text cannot hold NUL, so no writer can store one there.
        st.text(st.characters(blacklist_characters="\x00"), max_size=200),
        json_values.map(json.dumps),
        st.fixed_dictionaries({"body": json_values, "headers": json_values}).map(json.dumps),
        st.fixed_dictionaries({"body": st.text(max_size=40), "properties": st.just({}),
                               "content-type": st.text(max_size=20)}).map(json.dumps),
    ))
    return Bad("row", row=payload)


@st.composite
def kombu_messages(draw: Any) -> Bad:
    headers = draw(st.fixed_dictionaries(
        {"task": task_names, "id": st.just("ID")},
        optional={name: strategy for name, strategy in header_values.items()},
    ))
    if draw(st.booleans()):
        headers.pop("id")
    content_type = draw(st.one_of(
        st.just("application/json"),
        st.sampled_from(["application/x-python-serialize", "application/x-yaml", "text/plain",
                         "application/x-msgpack", "application/data"]),
        st.text(max_size=20),
    ))
    body = draw(st.one_of(
        json_values.map(json.dumps),
        st.tuples(st.lists(json_values, max_size=4), st.dictionaries(st.text(max_size=5), json_values, max_size=3),
                  st.just({})).map(lambda t: json.dumps(list(t))),
        st.binary(max_size=60),
        st.text(max_size=60),
    ))
    encoding = draw(st.sampled_from(["utf-8", "binary", "latin-1", "zlib", "no-such-codec"]))
    return Bad("kombu", body=body, content_type=content_type, content_encoding=encoding, headers=headers)


bad_messages = st.one_of(raw_rows(), kombu_messages())


class Exploit:
    """Unpickling this creates a directory: proof that pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (os.mkdir, (self.path,))


def pickle_task_message(app: Any, task_id: str, marker: str) -> Bad:
    """A real task message for ``fuzz.strict``, pickled, carrying an exploit."""
    body = pickle.dumps([[Exploit(marker), 1], {}, {"callbacks": None, "errbacks": None, "chain": None,
                                                     "chord": None}])
    return Bad("pickle", body=body, content_type="application/x-python-serialize", content_encoding="binary",
               headers={"task": "fuzz.strict", "id": task_id, "lang": "py", "retries": 0,
                        "root_id": task_id, "parent_id": None, "group": None})


def put(app: Any, bad: Bad, task_id: str) -> None:
    """Store ``bad`` in the default queue; a ``bad-<n>`` id replaces the drawn ``ID``."""
    _put(app, bad, task_id)


def _put(app: Any, bad: Bad, task_id: str) -> None:
    if bad.row is not None:
        now = timezone.now()
        Message.objects.create(queue=QUEUE, payload=bad.row, available_at=now, created_at=now)
        return
    headers = dict(bad.headers or {})
    if headers.get("id") == "ID":
        headers["id"] = task_id
    body = bad.body.encode() if isinstance(bad.body, str) else bad.body
    with app.connection_for_write() as conn:
        # bytes are sent as they are, whatever content type and encoding
        # they claim: the consumer is the one that must cope.
        conn.Producer().publish(
            body, exchange="", routing_key=QUEUE, headers=headers, content_type=bad.content_type,
            content_encoding=bad.content_encoding, retry=False,
        )


def raw_row_with_body(task: str, task_id: str, body: Any) -> str:
    """A stored row shaped like a real JSON task message (for hand-made cases)."""
    return json.dumps({
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"task": task, "id": task_id, "lang": "py"},
        "properties": {"body_encoding": "base64", "delivery_info": {"exchange": "", "routing_key": QUEUE},
                       "delivery_mode": 2, "priority": 0, "delivery_tag": "x"},
    })
