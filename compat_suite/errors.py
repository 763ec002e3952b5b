"""Exceptions the zoo raises: an importable module, as Celery's docs require."""


class MyErr(Exception):
    """``boom`` raises ``MyErr('boom', 42)``; rebuilt from its args by the client."""


class KwErr(Exception):
    """An exception with a keyword-only attribute: JSON keeps only ``args``."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class Outer:
    class Inner(Exception):
        """``exc_type`` is the ``__qualname__``: ``Outer.Inner``."""


class Weird(Exception):
    """A constructor that cannot be called with its own ``args``."""

    def __init__(self, *, code):
        super().__init__(f"code={code}")
        self.code = code


def not_imported_error():
    """An exception class whose module the client never imported."""
    return type("Ghost", (Exception,), {"__module__": "compat_suite.never_imported"})
