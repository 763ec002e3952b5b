"""``celery.app.control``'s twin."""

from ..control import Control, Inspect

__all__ = ["Control", "Inspect"]
