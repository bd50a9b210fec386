"""Catalog service: look up and create users, artists, artworks and exhibitions.

Built on a ``Database`` (notebooks, scripts), each public method is one unit of work
with its own session, so methods can be awaited concurrently (``asyncio.gather``)
without sharing a session. Built on a session (``CatalogService(session)``, an HTTP
route's per-request session, as in the platform notes), every method works inside that
session and its transaction, which the session's owner commits or rolls back; such a
service is one task's, never gathered (the session refuses concurrent use).
Ids are validated before any SQL runs; a missing row raises ``NotFoundError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from pydantic import Field, Strict, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

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
from gallery_analytics.services.pagination import (
    Page,
    date_value,
    decode_cursor,
    id_value,
    page_of,
    text_value,
)

ModelT = TypeVar("ModelT", bound=Base)
InputT = TypeVar("InputT", ArtistCreate, ArtworkCreate, ExhibitionCreate, UserCreate)

MAX_LIST_LIMIT = 100_000
# How many rows a list returns: a whole number (not a bool, float or text), or None for all.
ListLimit = Annotated[int, Strict(), Field(ge=1, le=MAX_LIST_LIMIT)]
_LIST_LIMIT: TypeAdapter[int | None] = TypeAdapter(ListLimit | None)


DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_PAGE_SIZE: TypeAdapter[int] = TypeAdapter(Annotated[int, Strict(), Field(ge=1, le=MAX_PAGE_SIZE)])


class CatalogService:
    def __init__(self, source: Database | AsyncSession) -> None:
        reject_awaitable(source, field="db")  # `CatalogService(ga.connect())`
        if not isinstance(source, Database | AsyncSession):
            raise ValidationError(
                "db",
                f"expected a Database or a session, got {type(source).__name__}",
                value=source,
            )
        self._session = source if isinstance(source, AsyncSession) else None
        self.db = source if isinstance(source, Database) else None

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        """The given session, or a read-only one of this call's own."""
        if self._session is not None:
            yield self._session
            return
        assert self.db is not None
        async with self.db.read_session() as session:
            yield session

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """The given session (its owner commits), or a write session committed at the end
        of this call (rolled back on any error)."""
        if self._session is not None:
            yield self._session
            return
        assert self.db is not None
        async with self.db.write_session() as session:
            yield session

    # -- single entities ------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserDto:
        user_id = parse_id(user_id, field="user_id")
        async with self._reading() as session:
            return UserDto.from_model(await _require(UserRepository(session), user_id, "user"))

    async def get_artist(self, artist_id: str) -> ArtistDto:
        artist_id = parse_id(artist_id, field="artist_id")
        async with self._reading() as session:
            return ArtistDto.from_model(
                await _require(ArtistRepository(session), artist_id, "artist")
            )

    async def get_artwork(self, artwork_id: str) -> ArtworkDto:
        artwork_id = parse_id(artwork_id, field="artwork_id")
        async with self._reading() as session:
            return ArtworkDto.from_model(
                await _require(ArtworkRepository(session), artwork_id, "artwork")
            )

    async def get_exhibition(self, exhibition_id: str) -> ExhibitionDto:
        exhibition_id = parse_id(exhibition_id, field="exhibition_id")
        async with self._reading() as session:
            return ExhibitionDto.from_model(
                await _require(ExhibitionRepository(session), exhibition_id, "exhibition")
            )

    # -- lists ----------------------------------------------------------------------------

    async def list_users(self, *, limit: int | None = None) -> list[UserDto]:
        limit = check_list_limit(limit)
        async with self._reading() as session:
            return [
                UserDto.from_model(u) for u in await UserRepository(session).find_all(limit=limit)
            ]

    async def list_artists(
        self, *, user_id: str, limit: int | None = None, check_user: bool = True
    ) -> list[ArtistDto]:
        """Artists managed by ``user_id`` (NotFoundError if the user does not exist).

        ``check_user=False`` skips that check (an unknown user then has no artists): for
        a caller that looks the user up itself, such as the user dashboard, which does
        it in parallel with this list instead of once more inside it."""
        user_id = parse_id(user_id, field="user_id")
        limit = check_list_limit(limit)
        async with self._reading() as session:
            if check_user:
                await _require(UserRepository(session), user_id, "user")
            artists = await ArtistRepository(session).find_by_user(user_id, limit=limit)
            return [ArtistDto.from_model(artist) for artist in artists]

    async def list_artworks(
        self, *, user_id: str, limit: int | None = None, check_user: bool = True
    ) -> list[ArtworkDto]:
        """Artworks owned by ``user_id`` (``check_user`` as for :meth:`list_artists`)."""
        user_id = parse_id(user_id, field="user_id")
        limit = check_list_limit(limit)
        async with self._reading() as session:
            if check_user:
                await _require(UserRepository(session), user_id, "user")
            artworks = await ArtworkRepository(session).find_by_user(user_id, limit=limit)
            return [ArtworkDto.from_model(artwork) for artwork in artworks]

    async def list_exhibitions(
        self, *, user_id: str, limit: int | None = None
    ) -> list[ExhibitionDto]:
        """Exhibitions curated by ``user_id``, most recent first."""
        user_id = parse_id(user_id, field="user_id")
        limit = check_list_limit(limit)
        async with self._reading() as session:
            await _require(UserRepository(session), user_id, "user")
            shows = await ExhibitionRepository(session).find_by_user(user_id, limit=limit)
            return [ExhibitionDto.from_model(show) for show in shows]

    async def artists_page(
        self, *, user_id: str, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[ArtistDto]:
        """One page of the artists ``user_id`` manages, by name; ``after`` is the previous
        page's ``next_after``."""
        user_id = parse_id(user_id, field="user_id")
        size = check_page_size(limit)
        start = None if after is None else decode_cursor(after, (text_value, id_value))
        async with self._reading() as session:
            await _require(UserRepository(session), user_id, "user")
            rows = await ArtistRepository(session).find_by_user(
                user_id, limit=size + 1, after=start
            )
            return page_of(
                [ArtistDto.from_model(row) for row in rows],
                limit=size,
                sort_values=lambda artist: (artist.name, artist.id),
            )

    async def artworks_page(
        self, *, user_id: str, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[ArtworkDto]:
        """One page of the artworks ``user_id`` owns, by title."""
        user_id = parse_id(user_id, field="user_id")
        size = check_page_size(limit)
        start = None if after is None else decode_cursor(after, (text_value, id_value))
        async with self._reading() as session:
            await _require(UserRepository(session), user_id, "user")
            rows = await ArtworkRepository(session).find_by_user(
                user_id, limit=size + 1, after=start
            )
            return page_of(
                [ArtworkDto.from_model(row) for row in rows],
                limit=size,
                sort_values=lambda artwork: (artwork.title, artwork.id),
            )

    async def exhibitions_page(
        self, *, user_id: str, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Page[ExhibitionDto]:
        """One page of the exhibitions ``user_id`` curates, most recent first."""
        user_id = parse_id(user_id, field="user_id")
        size = check_page_size(limit)
        start = None if after is None else decode_cursor(after, (date_value, text_value, id_value))
        async with self._reading() as session:
            await _require(UserRepository(session), user_id, "user")
            rows = await ExhibitionRepository(session).find_by_user(
                user_id, limit=size + 1, after=start
            )
            return page_of(
                [ExhibitionDto.from_model(row) for row in rows],
                limit=size,
                sort_values=lambda show: (show.starts_on, show.title, show.id),
            )

    async def find_active_exhibitions(
        self, *, on: dt.date, user_id: str | None = None
    ) -> list[ExhibitionDto]:
        """Exhibitions open on ``on``, optionally only those curated by ``user_id``."""
        require_date(on, field="on")
        curator = None if user_id is None else parse_id(user_id, field="user_id")
        async with self._reading() as session:
            shows = await ExhibitionRepository(session).find_active(on=on, curator_id=curator)
            return [ExhibitionDto.from_model(show) for show in shows]

    # -- writes ---------------------------------------------------------------------------

    async def create_user(self, *, email: str, display_name: str) -> UserDto:
        data = build(UserCreate, {"email": email, "display_name": display_name})
        async with self._writing() as session:
            user = await UserRepository(session).create(**data.model_dump())
            return UserDto.from_model(user)

    async def create_artist(
        self, *, owner_id: str, artist: ArtistCreate | Mapping[str, Any]
    ) -> ArtistDto:
        owner_id = parse_id(owner_id, field="owner_id")
        artist_data = _as_input(ArtistCreate, artist, prefix="artist.")
        async with self._writing() as session:
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
        async with self._writing() as session:
            await _require(UserRepository(session), curator_id, "user")
            created = await ExhibitionRepository(session).create(
                curator_id=curator_id, **data.model_dump()
            )
            return ExhibitionDto.from_model(created)

    async def create_artwork(
        self, *, artist_id: str, owner_id: str, artwork: ArtworkCreate | Mapping[str, Any]
    ) -> ArtworkDto:
        """Create an artwork of an existing artist, owned by ``owner_id``."""
        artist_id = parse_id(artist_id, field="artist_id")
        owner_id = parse_id(owner_id, field="owner_id")
        data = _as_input(ArtworkCreate, artwork, prefix="artwork.")
        async with self._writing() as session:
            await _require(UserRepository(session), owner_id, "user")
            await _require(ArtistRepository(session), artist_id, "artist")
            created = await ArtworkRepository(session).create(
                artist_id=artist_id, owner_id=owner_id, **data.model_dump()
            )
            return ArtworkDto.from_model(created)

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
        async with self._writing() as session:
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


def check_page_size(limit: object) -> int:
    """A page's ``limit``: a whole number from 1 to MAX_PAGE_SIZE."""
    return validated(
        _PAGE_SIZE, limit, field="limit", expected=f"a whole number from 1 to {MAX_PAGE_SIZE}"
    )
