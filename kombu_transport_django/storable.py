"""Values the queue tables store in plain text columns: refused early when no database could store them.

A queue, exchange or routing key name goes into text columns as it is
(the message itself is JSON, which escapes any character). PostgreSQL text
cannot hold a NUL byte: such a name used to fail deep in the publish with
``DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes``,
naming neither the value nor the fix. :func:`refuse_nul` raises
:class:`NulByteError` (a ``ValueError``) naming both instead, before any
statement runs, on every database (SQLite and MariaDB could store the name,
but an application must not work on one and fail on the other).
"""

from __future__ import annotations

from typing import Any


class NulByteError(ValueError):
    """A name that the django:// transport stores in a text column contains a NUL byte."""


def refuse_nul(what: str, value: Any) -> None:
    """Raise :class:`NulByteError` if ``value`` (a ``str``) contains ``"\\x00"``.

    ``what`` says where the value came from (``"queue name"``,
    ``"routing key"``...), for the message.
    """
    if isinstance(value, str) and "\x00" in value:
        raise NulByteError(
            f"the {what} {value!r} contains a NUL byte (\\x00), which the django:// transport cannot "
            f"store (PostgreSQL text refuses it): remove the NUL from the {what}"
        )
