import datetime as dt

import pytest

from closeout.selectors import period_bounds, period_name_for

UTC = dt.timezone.utc


@pytest.mark.parametrize("name, start, end", [
    ("2025-01", dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 2, 1, tzinfo=UTC)),
    ("2025-12", dt.datetime(2025, 12, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)),
    ("2025-Q4", dt.datetime(2025, 10, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)),
    ("2025-Q2", dt.datetime(2025, 4, 1, tzinfo=UTC), dt.datetime(2025, 7, 1, tzinfo=UTC)),
    ("2025", dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)),
])
def test_bounds(name, start, end):
    assert period_bounds(name) == (start, end)
    length = "quarter" if "Q" in name else ("year" if len(name) == 4 else "month")
    assert period_name_for(start, length) == name
    assert period_name_for(end - dt.timedelta(microseconds=1), length) == name


@pytest.mark.parametrize("name", ["2025-13", "2025-00", "2025-Q5", "25-01", "0000", "9999", "2025-1", "x"])
def test_not_period_names(name):
    assert period_bounds(name) is None
