"""OverviewFilters built directly, and the default period: the project's errors only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import gallery_analytics as ga
from gallery_analytics.domain.filters import OverviewFilters, default_period


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start": "nope"}, "start"),
        ({"start": "2024-01-02", "end": "2024-01-01"}, "end"),
        ({"mediums": ["Oil", " "]}, "mediums.1"),
        ({"top_n": 0}, "top_n"),
        ({"currency": "eur"}, "currency"),
        ({"status": "lost"}, "status"),
        ({"today": dt.datetime(2025, 1, 1, 12)}, "today"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_built_directly_bad_fields_are_the_projects_validation_error(
    fields: dict[str, Any], field: str
) -> None:
    """``OverviewFilters(start="nope")`` raised pydantic's own error, which
    ``except ga.ValidationError`` did not catch and which repeated the input."""
    with pytest.raises(ga.ValidationError) as caught:
        OverviewFilters(**fields)
    assert caught.value.field == field
    assert "input_value" not in str(caught.value)


def test_parse_and_direct_construction_agree() -> None:
    fields = {"start": "2024-01-01", "end": "2024-03-31", "mediums": "Oil"}
    assert OverviewFilters(**fields) == OverviewFilters.parse(fields)
    with pytest.raises(ga.ValidationError) as direct:
        OverviewFilters(start="x")
    with pytest.raises(ga.ValidationError) as parsed:
        OverviewFilters.parse({"start": "x"})
    assert str(direct.value) == str(parsed.value)


async def test_a_coroutine_in_a_field_asks_about_await() -> None:
    async def later() -> dt.date:
        return dt.date(2024, 1, 1)

    with pytest.raises(ga.ValidationError, match="did you forget `await`"):
        OverviewFilters(start=later())


@pytest.mark.parametrize(
    ("today", "period"),
    [
        (dt.date(2025, 11, 15), (dt.date(2024, 1, 1), dt.date(2024, 12, 31))),
        (dt.date(2026, 1, 1), (dt.date(2025, 1, 1), dt.date(2025, 12, 31))),
        (dt.date(2, 3, 4), (dt.date(1, 1, 1), dt.date(1, 12, 31))),
        (dt.date.max, (dt.date(9998, 1, 1), dt.date(9998, 12, 31))),
    ],
)
def test_default_period_is_the_last_full_year_before_today(
    today: dt.date, period: tuple[dt.date, dt.date]
) -> None:
    assert default_period(today) == period


@pytest.mark.parametrize("today", [dt.date(1, 6, 1), None, "2025-11-15", dt.datetime(2025, 1, 1)])
def test_default_period_refuses_what_has_no_year_before_it(today: object) -> None:
    """Year 1 raised a bare ValueError ("year 0 is out of range") through report and demo."""
    with pytest.raises(ga.ValidationError, match=r"^today: "):
        default_period(today)  # type: ignore[arg-type]
