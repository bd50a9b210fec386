"""DTOs: what services return and accept.

Read DTOs (``ArtistDto``...) are frozen pydantic models built from ORM rows with
``from_model``, so nothing lazy-loads after the session is gone. Create schemas
(``ArtistCreate``...) validate input before any SQL runs. The overview's results
(``PanelResult``, ``GalleryOverviewDto``) are pure panel data and live in
:mod:`gallery_analytics.domain.results`, so frames and panels need not import services.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.values import NonBlankText, ShortText, storable_text

NonBlank = NonBlankText
Year = Annotated[int, Field(ge=1000, le=2100)]
Centimetres = Annotated[Decimal, Field(gt=0, le=100_000, max_digits=10, decimal_places=2)]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class Dto(BaseModel):
    """Base of read DTOs: immutable, built from ORM attributes."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    @classmethod
    def from_model(cls, model: Any) -> Self:
        return cls.model_validate(model)


class UserDto(Dto):
    id: str
    email: str
    display_name: str
    created_at: dt.datetime


class ArtistDto(Dto):
    id: str
    owner_id: str
    name: str
    nationality: str | None
    gender: str | None
    birth_year: int | None
    death_year: int | None


class ArtworkDto(Dto):
    id: str
    artist_id: str
    owner_id: str
    title: str
    medium: str | None
    year_created: int | None
    width_cm: Decimal | None
    height_cm: Decimal | None
    status: ArtworkStatus
    list_price: Decimal | None
    acquired_at: dt.datetime | None


class ExhibitionDto(Dto):
    id: str
    curator_id: str
    title: str
    venue: str
    city: str
    starts_on: dt.date
    ends_on: dt.date


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserCreate(_Input):
    email: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"),
        AfterValidator(storable_text),
    ]
    display_name: NonBlank


class ArtistCreate(_Input):
    name: NonBlank
    nationality: NonBlank | None = None
    gender: ShortText | None = None
    birth_year: Year | None = None
    death_year: Year | None = None

    @field_validator("death_year")
    @classmethod
    def _died_after_birth(cls, death_year: int | None, info: ValidationInfo) -> int | None:
        birth_year = info.data.get("birth_year")
        if death_year is not None and birth_year is not None and death_year < birth_year:
            raise ValueError(f"must not be before birth_year ({birth_year})")
        return death_year


class ArtworkCreate(_Input):
    """An artwork to create; ``artist_id`` comes from the service when created together."""

    title: NonBlank
    medium: NonBlank | None = None
    year_created: Year | None = None
    width_cm: Centimetres | None = None
    height_cm: Centimetres | None = None
    status: ArtworkStatus = ArtworkStatus.AVAILABLE
    list_price: Money | None = None
    acquired_at: dt.datetime | None = None

    @field_validator("acquired_at")
    @classmethod
    def _aware_timestamp(cls, acquired_at: dt.datetime | None) -> dt.datetime | None:
        if acquired_at is not None and acquired_at.tzinfo is None:
            raise ValueError("must include a time zone, e.g. 2024-05-01T12:00:00+00:00")
        return acquired_at


class ExhibitionCreate(_Input):
    title: NonBlank
    venue: NonBlank
    city: NonBlank
    starts_on: dt.date
    ends_on: dt.date

    @field_validator("ends_on")
    @classmethod
    def _ends_after_start(cls, ends_on: dt.date, info: ValidationInfo) -> dt.date:
        starts_on = info.data.get("starts_on")
        if starts_on is not None and ends_on < starts_on:
            raise ValueError(f"must be on or after starts_on ({starts_on.isoformat()})")
        return ends_on


# -- dashboards -----------------------------------------------------------------------------


class DashboardDto(BaseModel):
    """One user's dashboard: their artists, artworks and exhibitions open on ``on``."""

    model_config = ConfigDict(frozen=True)

    user: UserDto
    on: dt.date
    artists: list[ArtistDto]
    artworks: list[ArtworkDto]
    active_exhibitions: list[ExhibitionDto]
    wall_seconds: float
