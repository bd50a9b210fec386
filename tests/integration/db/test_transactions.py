"""Units of work: atomic writes, read-only reads, rollback on failure and cancellation."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from gallery_analytics import CatalogService, NotFoundError, ValidationError
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import User
from gallery_analytics.errors import ConstraintViolationError, DatabaseError, ReadOnlyError
from gallery_analytics.repositories import ArtworkRepository
from tests.helpers import count_rows

ARTIST = {"name": "Test Artist Atomic", "nationality": "Dutch", "birth_year": 1980}
ARTWORK = {
    "title": "Atomic Study",
    "medium": "Oil on canvas",
    "year_created": 2020,
    "width_cm": Decimal("40.5"),
    "height_cm": 60,
    "list_price": "2500.00",
}


async def _any_user(db: Database) -> str:
    async with db.read_session() as session:
        return str(await session.scalar(select(User.id).order_by(User.email).limit(1)))


async def test_create_artist_with_artwork_commits_both(fresh_db: Database) -> None:
    owner = await _any_user(fresh_db)
    artist, artwork = await CatalogService(fresh_db).create_artist_with_artwork(
        owner_id=owner, artist=ARTIST, artwork=ARTWORK
    )
    assert artwork.artist_id == artist.id
    assert artwork.width_cm == Decimal("40.50")
    stored = await CatalogService(fresh_db).get_artwork(artwork.id)
    assert stored == artwork
    assert (await CatalogService(fresh_db).get_artist(artist.id)).name == ARTIST["name"]


async def test_failed_artwork_insert_leaves_no_artist(fresh_db: Database) -> None:
    """A real failure injected in the database: a trigger rejects the artwork insert."""
    # A trigger is DDL: the schema owner creates it, not the application's writer role.
    async with fresh_db.admin_connection() as connection:
        await connection.execute("""
            CREATE FUNCTION reject_artwork() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE check_violation USING MESSAGE = 'injected failure'; END $$
        """)
        await connection.execute(
            "CREATE TRIGGER reject_artwork BEFORE INSERT ON artworks "
            "FOR EACH ROW EXECUTE FUNCTION reject_artwork()"
        )
    owner = await _any_user(fresh_db)
    artists_before = await count_rows(fresh_db, "artists")

    with pytest.raises(ConstraintViolationError):
        await CatalogService(fresh_db).create_artist_with_artwork(
            owner_id=owner, artist=ARTIST, artwork=ARTWORK
        )

    assert await count_rows(fresh_db, "artists") == artists_before
    assert await count_rows(fresh_db, "artists", "name = :name", name=ARTIST["name"]) == 0


async def test_exception_after_artist_insert_rolls_back(
    fresh_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The artist row was flushed (sent to the server) before the artwork step failed."""

    async def explode(self: ArtworkRepository, **_: object) -> None:
        flushed = await self.session.scalar(
            text("SELECT count(*) FROM artists WHERE name = :name"), {"name": ARTIST["name"]}
        )
        assert flushed == 1  # the artist really was inserted inside the transaction
        raise RuntimeError("artwork step failed")

    monkeypatch.setattr(ArtworkRepository, "create", explode)
    with pytest.raises(RuntimeError, match="artwork step failed"):
        await CatalogService(fresh_db).create_artist_with_artwork(
            owner_id=await _any_user(fresh_db), artist=ARTIST, artwork=ARTWORK
        )
    assert await count_rows(fresh_db, "artists", "name = :name", name=ARTIST["name"]) == 0


@pytest.mark.parametrize(
    ("artist", "artwork", "field"),
    [
        ({"name": ""}, ARTWORK, "artist.name"),
        ({"name": "X", "birth_year": 1990, "death_year": 1950}, ARTWORK, "artist.death_year"),
        (ARTIST, {"title": "T", "status": "stolen"}, "artwork.status"),
        (ARTIST, {"title": "T", "list_price": -5}, "artwork.list_price"),
        (ARTIST, {"title": "T", "width_cm": "wide"}, "artwork.width_cm"),
        (ARTIST, {"title": "T", "acquired_at": "2024-01-01T10:00:00"}, "artwork.acquired_at"),
        (ARTIST, {"title": "T", "colour": "red"}, "artwork.colour"),
        (ARTIST, "not a mapping", "artwork"),
    ],
)
async def test_invalid_input_is_rejected_before_any_write(
    fresh_db: Database, artist: object, artwork: object, field: str
) -> None:
    artists_before = await count_rows(fresh_db, "artists")
    with pytest.raises(ValidationError) as caught:
        await CatalogService(fresh_db).create_artist_with_artwork(
            owner_id=await _any_user(fresh_db),
            artist=artist,
            artwork=artwork,  # type: ignore[arg-type]
        )
    assert caught.value.field == field
    assert await count_rows(fresh_db, "artists") == artists_before


async def test_unknown_owner_raises_not_found(fresh_db: Database) -> None:
    with pytest.raises(NotFoundError):
        await CatalogService(fresh_db).create_artist_with_artwork(
            owner_id="00000000-0000-4000-8000-000000000000", artist=ARTIST, artwork=ARTWORK
        )


async def test_read_session_refuses_writes(fresh_db: Database) -> None:
    users_before = await count_rows(fresh_db, "users")
    with pytest.raises(ReadOnlyError, match="read-only"):
        async with fresh_db.read_session() as session:
            session.add(User(email="reader@example.org", display_name="Reader"))
            await session.flush()
    with pytest.raises(ReadOnlyError):
        async with fresh_db.read_session() as session:
            await session.execute(text("DELETE FROM exhibition_visits"))
    assert await count_rows(fresh_db, "users") == users_before
    assert await count_rows(fresh_db, "exhibition_visits") > 0
    assert fresh_db.pool_status()["checked_out"] == 0


async def test_write_session_rolls_back_on_exception(fresh_db: Database) -> None:
    with pytest.raises(KeyError):
        async with fresh_db.write_session() as session:
            session.add(User(email="ghost@example.org", display_name="Ghost"))
            await session.flush()
            raise KeyError("boom")
    assert await count_rows(fresh_db, "users", "email = 'ghost@example.org'") == 0


async def test_cancelled_write_leaves_nothing(fresh_db: Database) -> None:
    flushed = asyncio.Event()

    async def slow_write() -> None:
        async with fresh_db.write_session() as session:
            session.add(User(email="cancelled@example.org", display_name="Cancelled"))
            await session.flush()
            flushed.set()
            await session.execute(text("SELECT pg_sleep(30)"))

    task = asyncio.create_task(slow_write())
    await asyncio.wait_for(flushed.wait(), timeout=10)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await count_rows(fresh_db, "users", "email = 'cancelled@example.org'") == 0
    assert fresh_db.pool_status()["checked_out"] == 0


async def test_constraint_violation_is_translated(fresh_db: Database) -> None:
    async with fresh_db.read_session() as session:
        email = await session.scalar(select(User.email).limit(1))
    with pytest.raises(ConstraintViolationError, match="duplicates an existing row") as caught:
        await CatalogService(fresh_db).create_user(email=str(email), display_name="Twin")
    assert caught.value.constraint == "uq_users_email"
    assert isinstance(caught.value, DatabaseError)
