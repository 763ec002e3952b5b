"""Optional message signing: an HMAC of each stored message with the project's key.

With the transport option ``sign_messages=True`` every message the
transport stores carries an HMAC-SHA256 of its content (body, headers,
properties) and of the queue it was stored in, keyed with Django's
``SECRET_KEY`` (or the ``signing_key`` option). A consumer with the option
on delivers only messages whose signature verifies; an unsigned, altered
or foreign-key message is set aside as dead with the reason, never run.

So someone who can write to the queue table but does not know the key
cannot make a worker run a task. It does not hide message content (anyone
who can read the table reads the payloads) and it does not stop a replay of
a message that was once signed (copying a stored payload into a new row
of the same queue): see docs/security.md.

Signing happens in the transport, so it covers whatever publishes through
``django://``: celery_compat, a real Celery app, plain kombu, remote
control messages and replies.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Iterable

from django.conf import settings
from django.utils.crypto import salted_hmac

#: where the signature lives in the stored message dict (top level, beside
#: kombu's ``body``/``headers``/``properties``; removed before delivery)
SIGNATURE_KEY = "x-django-kombu-signature"
#: versioned: a future scheme can coexist during a rolling upgrade
PREFIX = "v1:"
SALT = "kombu_transport_django.signing"


def signing_keys(key: str | None = None) -> list[str]:
    """The key to sign with, first, then the ones still accepted.

    ``key`` (the ``signing_key`` option) wins; otherwise ``SECRET_KEY`` and
    then ``SECRET_KEY_FALLBACKS``, so a key rotation does not strand the
    messages already in the table.
    """
    if key:
        return [key]
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _canonical(queue: str, message: dict[str, Any]) -> bytes:
    """A byte string both ends compute alike from the stored JSON."""
    content = {k: v for k, v in message.items() if k != SIGNATURE_KEY}
    return (queue + "\n" + json.dumps(content, sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=True)).encode()


def _mac(secret: str, data: bytes) -> str:
    return PREFIX + salted_hmac(SALT, data, secret=secret, algorithm="sha256").hexdigest()


def sign(payload: str, queue: str, keys: Iterable[str]) -> str:
    """The stored form of ``payload`` (kombu's JSON) with its signature added."""
    message = json.loads(payload)
    secret = next(iter(keys))
    message[SIGNATURE_KEY] = _mac(secret, _canonical(queue, message))
    return json.dumps(message)


def verify(message: dict[str, Any], queue: str, keys: Iterable[str]) -> str | None:
    """Check and remove the signature of a decoded stored message.

    Returns None if it verifies with one of ``keys``, else the reason to
    set the message aside.
    """
    signature = message.pop(SIGNATURE_KEY, None)
    if signature is None:
        return (
            "unsigned message refused: the transport option sign_messages is on, so only "
            "messages published with it (and the same key) are delivered; publish through "
            "django:// with sign_messages=True"
        )
    if not isinstance(signature, str) or not signature.startswith(PREFIX):
        return f"message signature {str(signature)[:20]!r} is not a {PREFIX}... signature: refused"
    data = _canonical(queue, message)
    if any(hmac.compare_digest(_mac(secret, data), signature) for secret in keys):
        return None
    return (
        "bad message signature: the message was altered, moved to another queue, or signed "
        "with a key this consumer does not have (SECRET_KEY / SECRET_KEY_FALLBACKS / the "
        "signing_key option): refused"
    )
