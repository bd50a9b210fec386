"""CatalogService against the seeded small demo dataset."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select, text

from gallery_analytics import CatalogService, NotFoundError, ValidationError
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Artist, Artwork, Exhibition, User
from gallery_analytics.services.dtos import ArtistDto, ArtworkDto, ExhibitionDto, UserDto

MISSING_ID = "00000000-0000-4000-8000-000000000000"


async def _first_id(db: Database, model: type) -> str:
    async with db.read_session() as session:
        return str(await session.scalar(select(model.id).order_by(model.id).limit(1)))


async def _busiest_user(db: Database) -> str:
    """The user who manages the most artists."""
    async with db.read_session() as session:
        return str(
            await session.scalar(
                select(Artist.owner_id)
                .group_by(Artist.owner_id)
                .order_by(func.count().desc(), Artist.owner_id)
                .limit(1)
            )
        )


@pytest.mark.parametrize(
    ("method", "model", "dto"),
    [
        ("get_user", User, UserDto),
        ("get_artist", Artist, ArtistDto),
        ("get_artwork", Artwork, ArtworkDto),
        ("get_exhibition", Exhibition, ExhibitionDto),
    ],
)
async def test_get_returns_dto_built_from_the_row(
    seeded_db: Database, method: str, model: type, dto: type
) -> None:
    entity_id = await _first_id(seeded_db, model)
    result = await getattr(CatalogService(seeded_db), method)(entity_id)
    assert isinstance(result, dto)
    assert result.id == entity_id
    # An uppercase id or a uuid.UUID names the same row.
    assert (await getattr(CatalogService(seeded_db), method)(entity_id.upper())).id == entity_id
    assert (await getattr(CatalogService(seeded_db), method)(uuid.UUID(entity_id))).id == entity_id


@pytest.mark.parametrize(
    ("method", "entity"),
    [
        ("get_user", "user"),
        ("get_artist", "artist"),
        ("get_artwork", "artwork"),
        ("get_exhibition", "exhibition"),
    ],
)
async def test_get_missing_id_raises_not_found(
    seeded_db: Database, method: str, entity: str
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await getattr(CatalogService(seeded_db), method)(MISSING_ID)
    assert caught.value.entity == entity
    assert caught.value.entity_id == MISSING_ID
    assert MISSING_ID in str(caught.value)


@pytest.mark.parametrize(
    "bad_id",
    ["", "   ", "not-a-uuid", "123", "'; DROP TABLE artists; --", "0" * 33, 42, None, b"\xff\xfe"],
)
@pytest.mark.parametrize(
    ("method", "field"),
    [
        ("get_user", "user_id"),
        ("get_artist", "artist_id"),
        ("get_artwork", "artwork_id"),
        ("get_exhibition", "exhibition_id"),
    ],
)
async def test_malformed_id_raises_validation_error_naming_the_field(
    seeded_db: Database, method: str, field: str, bad_id: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        await getattr(CatalogService(seeded_db), method)(bad_id)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: expected a UUID")


async def test_list_artists_and_artworks_for_a_user(seeded_db: Database) -> None:
    user_id = await _busiest_user(seeded_db)
    service = CatalogService(seeded_db)
    artists = await service.list_artists(user_id=user_id)
    artworks = await service.list_artworks(user_id=user_id)
    async with seeded_db.read_session() as session:
        expected_artists = await session.scalar(
            select(func.count()).select_from(Artist).where(Artist.owner_id == user_id)
        )
        expected_artworks = await session.scalar(
            select(func.count()).select_from(Artwork).where(Artwork.owner_id == user_id)
        )
    assert len(artists) == expected_artists > 0
    assert len(artworks) == expected_artworks > 0
    assert {a.owner_id for a in artists} == {user_id}
    assert [a.name for a in artists] == sorted(a.name for a in artists)
    assert len(await service.list_artists(user_id=user_id, limit=2)) == 2


async def test_list_for_unknown_user_raises_not_found(seeded_db: Database) -> None:
    with pytest.raises(NotFoundError):
        await CatalogService(seeded_db).list_artworks(user_id=MISSING_ID)


@pytest.mark.parametrize("limit", [0, -1, True, 10**12, "5"])
async def test_list_rejects_bad_limit(seeded_db: Database, limit: object) -> None:
    user_id = await _busiest_user(seeded_db)
    with pytest.raises(ValidationError, match=r"^limit: "):
        await CatalogService(seeded_db).list_artists(user_id=user_id, limit=limit)  # type: ignore[arg-type]


async def test_find_active_exhibitions_matches_the_date_range(seeded_db: Database) -> None:
    on = dt.date(2024, 6, 1)
    shows = await CatalogService(seeded_db).find_active_exhibitions(on=on)
    async with seeded_db.read_session() as session:
        expected = set(
            (
                await session.scalars(
                    text(
                        "SELECT id::text FROM exhibitions WHERE :on BETWEEN starts_on AND ends_on"
                    ),
                    {"on": on},
                )
            ).all()
        )
    assert {show.id for show in shows} == expected
    assert expected, "the demo data should have exhibitions open on 2024-06-01"
    assert all(show.starts_on <= on <= show.ends_on for show in shows)


async def test_find_active_rejects_a_datetime(seeded_db: Database) -> None:
    with pytest.raises(ValidationError, match=r"^on: "):
        await CatalogService(seeded_db).find_active_exhibitions(on=dt.datetime(2024, 6, 1, 12, 0))


async def test_service_calls_can_run_concurrently(seeded_db: Database) -> None:
    """Each call has its own session, so gathering them is safe."""
    user_id = await _busiest_user(seeded_db)
    service = CatalogService(seeded_db)
    user, artists, artworks, shows = await asyncio.gather(
        service.get_user(user_id),
        service.list_artists(user_id=user_id),
        service.list_artworks(user_id=user_id),
        service.find_active_exhibitions(on=dt.date(2024, 6, 1)),
    )
    assert user.id == user_id
    assert artists
    assert artworks
    assert shows
    assert seeded_db.pool_status()["checked_out"] == 0
