"""Random crontab strings: valid ones construct, bad ones raise Celery's errors only.

Celery raises ``ValueError`` or ``crontab_parser.ParseException`` for a bad
field, and ``celery_compat.schedules.crontab`` keeps both classes exactly;
anything else (``IndexError``, ``TypeError``, a hang) would be a defect.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celery_compat.schedules import ParseException, crontab

settings.load_profile("fuzz")

FIELDS = ["minute", "hour", "day_of_week", "day_of_month", "month_of_year"]
cron_text = st.one_of(
    st.text(alphabet="0123456789*/-,abcdefghijklmnopqrstuvwxyz ", max_size=16),
    st.text(max_size=12),
)


@given(field=st.sampled_from(FIELDS), value=cron_text)
def test_a_crontab_field_is_parsed_or_refused_with_celerys_errors(field: str, value: str) -> None:
    try:
        crontab(**{field: value})
    except (ValueError, ParseException) as exc:
        assert str(exc), f"{field}={value!r} raised {type(exc).__name__} without a message"


@pytest.mark.parametrize("value", ["61", "*/0", "1,,2", "--", "*/x", "99-1"])
def test_known_bad_minutes_are_refused(value: str) -> None:
    with pytest.raises((ValueError, ParseException)):
        crontab(minute=value)
