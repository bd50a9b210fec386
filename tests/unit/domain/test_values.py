from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.values import (
    EARLIEST_DATE,
    LATEST_DATE,
    build,
    parse_id,
    require_date_in_range,
)
from gallery_analytics.errors import GalleryAnalyticsError, ValidationError
from gallery_analytics.services.dtos import ArtistCreate, ExhibitionCreate

ID = "123e4567-e89b-42d3-a456-426614174000"


@pytest.mark.parametrize(
    "value", [ID, ID.upper(), ID.replace("-", ""), f"{{{ID}}}", f"  {ID} ", uuid.UUID(ID)]
)
def test_parse_id_accepts_uuid_spellings(value: object) -> None:
    assert parse_id(value, field="artist_id") == ID


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty string"),
        ("nope", "'nope'"),
        (12, "got int"),
        (None, "got NoneType"),
        (b"\xff", "got bytes"),
        ("x" * 500, "..."),
        ("1' OR '1'='1", "expected a UUID"),
    ],
)
def test_parse_id_rejects_with_the_field_name(value: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_id(value, field="artwork_id")
    assert caught.value.field == "artwork_id"
    assert fragment in str(caught.value)
    assert isinstance(caught.value, GalleryAnalyticsError)
    assert len(str(caught.value)) < 200


def test_build_names_the_first_bad_field_and_counts_the_rest() -> None:
    with pytest.raises(ValidationError) as caught:
        build(ArtistCreate, {"name": "  ", "birth_year": "old", "gender": ""}, prefix="artist.")
    assert caught.value.field == "artist.name"
    assert "and 2 more problems" in str(caught.value)


def test_reversed_exhibition_dates_name_ends_on() -> None:
    with pytest.raises(ValidationError) as caught:
        build(
            ExhibitionCreate,
            {
                "title": "T",
                "venue": "V",
                "city": "C",
                "starts_on": "2025-05-10",
                "ends_on": "2025-05-01",
            },
        )
    assert caught.value.field == "ends_on"
    assert "2025-05-10" in str(caught.value)


def test_names_are_stripped() -> None:
    assert build(ArtistCreate, {"name": "  Ada  "}).name == "Ada"


# -- date ranges ------------------------------------------------------------------------------


@settings(deadline=None, max_examples=300)
@given(start=st.one_of(st.none(), st.dates()), end=st.one_of(st.none(), st.dates()))
@example(start=dt.date(1, 1, 1), end=dt.date(9999, 12, 31))  # issue 10 #13
@example(start=dt.date.max, end=None)
def test_overview_date_ranges_are_usable_or_name_the_field(
    start: dt.date | None, end: dt.date | None
) -> None:
    """Any pair of dates gives filters whose bounds (``end + 1 day``) can be computed, or
    a ValidationError naming the field at fault; never an OverflowError later."""
    problem: ValidationError | None = None
    try:
        filters = OverviewFilters.parse({"start": start, "end": end})
    except ValidationError as exc:
        problem = exc
    if problem is not None:
        assert problem.field in {"start", "end"}
        return
    if filters.end is not None:
        assert filters.end + dt.timedelta(days=1) > filters.end
    if filters.start is not None:
        assert filters.start >= EARLIEST_DATE


@pytest.mark.parametrize("day", [dt.date.max])
@pytest.mark.parametrize("field", ["start", "end"])
def test_last_representable_day_cannot_bound_a_range(field: str, day: dt.date) -> None:
    with pytest.raises(ValidationError, match=f"^{field}: expected a date from 0001-01-01"):
        OverviewFilters.parse({field: day})
    with pytest.raises(ValidationError, match=f"^{field}: expected a date from 0001-01-01"):
        require_date_in_range(day, field=field)
    assert require_date_in_range(LATEST_DATE, field=field) == LATEST_DATE
