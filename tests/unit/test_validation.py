from __future__ import annotations

import uuid

import pytest

from gallery_analytics.errors import GalleryAnalyticsError, ValidationError
from gallery_analytics.services.dtos import ArtistCreate, ExhibitionCreate
from gallery_analytics.validation import build, parse_id

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
