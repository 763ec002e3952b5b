"""Ages on the command line: ``90s``, ``30m``, ``12h``, ``7d``, ``2w`` or plain seconds."""

from __future__ import annotations

import datetime as dt
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_age(value: str) -> dt.timedelta:
    """``"7d"`` → ``timedelta(days=7)``; a bare number is seconds.

    Raises ``ValueError`` naming the value and the accepted forms.
    """
    match = _PATTERN.match(value)
    if not match:
        raise ValueError(f"{value!r} is not an age: use a number with s, m, h, d or w (e.g. 90s, 30m, 12h, 7d)")
    number, unit = match.groups()
    return dt.timedelta(seconds=float(number) * _UNITS[(unit or "s").lower()])


def humanize(delta: dt.timedelta | float | None) -> str:
    """A short age: ``3s``, ``4m12s``, ``2h05m``, ``3d04h``; ``-`` for None."""
    if delta is None:
        return "-"
    seconds = delta.total_seconds() if isinstance(delta, dt.timedelta) else float(delta)
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
