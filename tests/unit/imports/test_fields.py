"""Field parsers of the collection import that need no database."""

from __future__ import annotations

import pytest

from gallery_analytics.imports import parse_year


@pytest.mark.parametrize(
    ("text_value", "year"),
    [
        ("1887", 1887),
        ("c.1880", 1880),
        ("1920-5", 1920),
        ("1960s", 1960),
        ("date not known", None),
        ("", None),
        (None, None),
        ("circa 1500-1510", 1500),
    ],
)
def test_free_text_years(text_value: str | None, year: int | None) -> None:
    assert parse_year(text_value) == year
