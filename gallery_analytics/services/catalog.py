"""Catalog service: look up and create users, artists, artworks and exhibitions.

Each public method is one unit of work with its own session from the Database, so
methods can be awaited concurrently (``asyncio.gather``) without sharing a session.
Ids are validated before any SQL runs; a missing row raises ``NotFoundError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import Field, Strict, TypeAdapter

from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Base
from gallery_analytics.domain.values import (
    build,
    parse_id,
    reject_awaitable,
    require_date,
    validated,
)
from gallery_analytics.errors import NotFoundError, ValidationError
from gallery_analytics.repositories import (
    ArtistRepository,
    ArtworkRepository,
    ExhibitionRepository,
    UserRepository,
)
from gallery_analytics.repositories.base import Repository
from gallery_analytics.services.dtos import (
    ArtistCreate,
    ArtistDto,
    ArtworkCreate,
    ArtworkDto,
    ExhibitionCreate,
    ExhibitionDto,
    UserCreate,
    UserDto,
)

ModelT = TypeVar("ModelT", bound=Base)
InputT = TypeVar("InputT", ArtistCreate, ArtworkCreate, ExhibitionCreate, UserCreate)

MAX_LIST_LIMIT = 100_000
# How many rows a list returns: a whole number (not a bool, float or text), or None for all.
ListLimit = Annotated[int, Strict(), Field(ge=1, le=MAX_LIST_LIMIT)]
_LIST_LIMIT: TypeAdapter[int | None] = TypeAdapter(ListLimit | None)


class CatalogService:
    def __init__(self, db: Database) -> None:
        reject_awaitable(db, field="db")  # `CatalogService(ga.connect())`
        self.db = db

    # -- single entities ------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserDto:
        user_id = parse_id(user_id, field="user_id")
        async with self.db.read_session() as session:
            return UserDto.from_model(await _require(UserRepository(session), user_id, "user"))

    async def get_artist(self, artist_id: str) -> ArtistDto:
        artist_id = parse_id(artist_id, field="artist_id")
        async with self.db.read_session() as session:
            return ArtistDto.from_model(
                await _require(ArtistRepository(session), artist_id, "artist")
            )

    async def get_artwork(self, artwork_id: str) -> ArtworkDto:
        artwork_id = parse_id(artwork_id, field="artwork_id")
        async with self.db.read_session() as session:
            return ArtworkDto.from_model(
                await _require(ArtworkRepository(session), artwork_id, "artwork")
            )

    async def get_exhibition(self, exhibition_id: str) -> ExhibitionDto:
        exhibition_id = parse_id(exhibition_id, field="exhibition_id")
        async with self.db.read_session() as session:
            return ExhibitionDto.from_model(
                await _require(ExhibitionRepository(session), exhibition_id, "exhibition")
            )

    # -- lists ----------------------------------------------------------------------------

    async def list_users(self, *, limit: int | None = None) -> list[UserDto]:
        limit = check_list_limit(limit)
        async with self.db.read_session() as session:
            return [
                UserDto.from_model(u) for u in await UserRepository(session).find_all(limit=limit)
            ]

    async def list_artists(self, *, user_id: str, limit: int | None = None) -> list[ArtistDto]:
        """Artists managed by ``user_id`` (NotFoundError if the user does not exist)."""
        user_id = parse_id(user_id, field="user_id")
        limit = check_list_limit(limit)
        async with self.db.read_session() as session:
            await _require(UserRepository(session), user_id, "user")
            artists = await ArtistRepository(session).find_by_user(user_id, limit=limit)
            return [ArtistDto.from_model(artist) for artist in artists]

    async def list_artworks(self, *, user_id: str, limit: int | None = None) -> list[ArtworkDto]:
        """Artworks owned by ``user_id``."""
        user_id = parse_id(user_id, field="user_id")
        limit = check_list_limit(limit)
        async with self.db.read_session() as session:
            await _require(UserRepository(session), user_id, "user")
            artworks = await ArtworkRepository(session).find_by_user(user_id, limit=limit)
            return [ArtworkDto.from_model(artwork) for artwork in artworks]

    async def list_exhibitions(
        self, *, user_id: str, limit: int | None = None
    ) -> list[ExhibitionDto]:
        """Exhibitions curated by ``user_id``, most recent first."""
        user_id = parse_id(user_id, field="user_id")
        limit = check_list_limit(limit)
        async with self.db.read_session() as session:
            await _require(UserRepository(session), user_id, "user")
            shows = await ExhibitionRepository(session).find_by_user(user_id, limit=limit)
            return [ExhibitionDto.from_model(show) for show in shows]

    async def find_active_exhibitions(
        self, *, on: dt.date, user_id: str | None = None
    ) -> list[ExhibitionDto]:
        """Exhibitions open on ``on``, optionally only those curated by ``user_id``."""
        require_date(on, field="on")
        curator = None if user_id is None else parse_id(user_id, field="user_id")
        async with self.db.read_session() as session:
            shows = await ExhibitionRepository(session).find_active(on=on, curator_id=curator)
            return [ExhibitionDto.from_model(show) for show in shows]

    # -- writes ---------------------------------------------------------------------------

    async def create_user(self, *, email: str, display_name: str) -> UserDto:
        data = build(UserCreate, {"email": email, "display_name": display_name})
        async with self.db.write_session() as session:
            user = await UserRepository(session).create(**data.model_dump())
            return UserDto.from_model(user)

    async def create_artist(
        self, *, owner_id: str, artist: ArtistCreate | Mapping[str, Any]
    ) -> ArtistDto:
        owner_id = parse_id(owner_id, field="owner_id")
        artist_data = _as_input(ArtistCreate, artist, prefix="artist.")
        async with self.db.write_session() as session:
            await _require(UserRepository(session), owner_id, "user")
            created = await ArtistRepository(session).create(
                owner_id=owner_id, **artist_data.model_dump()
            )
            return ArtistDto.from_model(created)

    async def create_exhibition(
        self, *, curator_id: str, exhibition: ExhibitionCreate | Mapping[str, Any]
    ) -> ExhibitionDto:
        curator_id = parse_id(curator_id, field="curator_id")
        data = _as_input(ExhibitionCreate, exhibition, prefix="exhibition.")
        async with self.db.write_session() as session:
            await _require(UserRepository(session), curator_id, "user")
            created = await ExhibitionRepository(session).create(
                curator_id=curator_id, **data.model_dump()
            )
            return ExhibitionDto.from_model(created)

    async def create_artist_with_artwork(
        self,
        *,
        owner_id: str,
        artist: ArtistCreate | Mapping[str, Any],
        artwork: ArtworkCreate | Mapping[str, Any],
    ) -> tuple[ArtistDto, ArtworkDto]:
        """Create an artist and their first artwork in one transaction.

        The artwork needs the artist's id, so the inserts run in sequence; if the artwork
        insert fails, the artist insert is rolled back with it and no artist remains.
        """
        owner_id = parse_id(owner_id, field="owner_id")
        artist_data = _as_input(ArtistCreate, artist, prefix="artist.")
        artwork_data = _as_input(ArtworkCreate, artwork, prefix="artwork.")
        async with self.db.write_session() as session:
            await _require(UserRepository(session), owner_id, "user")
            created_artist = await ArtistRepository(session).create(
                owner_id=owner_id, **artist_data.model_dump()
            )
            created_artwork = await ArtworkRepository(session).create(
                artist_id=created_artist.id, owner_id=owner_id, **artwork_data.model_dump()
            )
            return ArtistDto.from_model(created_artist), ArtworkDto.from_model(created_artwork)


async def _require(repository: Repository[ModelT], entity_id: str, entity: str) -> ModelT:
    found = await repository.get_by_id(entity_id)
    if found is None:
        raise NotFoundError(entity, entity_id)
    return found


def _as_input(model: type[InputT], value: InputT | Mapping[str, Any], *, prefix: str) -> InputT:
    reject_awaitable(value, field=prefix.rstrip("."))
    if isinstance(value, model):
        return value
    if not isinstance(value, Mapping):
        raise ValidationError(
            prefix.rstrip("."),
            f"expected a {model.__name__} or a dict of its fields, got {type(value).__name__}",
            value=value,
        )
    return build(model, dict(value), prefix=prefix)


def check_list_limit(limit: object) -> int | None:
    """A list's ``limit``: a whole number from 1 to MAX_LIST_LIMIT, or None for all."""
    return validated(
        _LIST_LIMIT,
        limit,
        field="limit",
        expected=f"a whole number from 1 to {MAX_LIST_LIMIT}, or None for all",
    )
