"""Users, artists, artworks and exhibitions: lookups, keyset-paged lists, the user
dashboard, and creates.

Lookups and lists run in the request's read session and creates in its write session
(route -> service -> repository, as in the platform notes). The user dashboard runs its
four queries in parallel, so it hands the service the Database: each gathered query
gets its own session and connection, never the request's.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict

from gallery_analytics.api.dependencies import (
    CanRead,
    CanReadInRequestSession,
    CanWrite,
    DatabaseDep,
    ReadSession,
    WriteSession,
)
from gallery_analytics.services.catalog import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, CatalogService
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.dtos import (
    ArtistCreate,
    ArtistDto,
    ArtworkCreate,
    ArtworkDto,
    DashboardDto,
    ExhibitionDto,
    UserDto,
)
from gallery_analytics.services.pagination import Page

reads = APIRouter(tags=["catalog"], dependencies=[CanReadInRequestSession])
# Parallel reads: each query in a session of its own, the token checked in one more.
parallel_reads = APIRouter(tags=["catalog"], dependencies=[CanRead])
writes = APIRouter(tags=["catalog"], dependencies=[CanWrite])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such id"}}
PageSize = Annotated[
    int, Query(description=f"items per page, 1 to {MAX_PAGE_SIZE}", ge=1, le=MAX_PAGE_SIZE)
]
After = Annotated[
    str | None,
    Query(description="the previous page's next_after, unchanged", max_length=2048),
]


# -- lookups --------------------------------------------------------------------------------


@reads.get("/artworks/{artwork_id}", responses=_NOT_FOUND)
async def get_artwork(artwork_id: str, session: ReadSession) -> ArtworkDto:
    return await CatalogService(session).get_artwork(artwork_id)


@reads.get("/artists/{artist_id}", responses=_NOT_FOUND)
async def get_artist(artist_id: str, session: ReadSession) -> ArtistDto:
    return await CatalogService(session).get_artist(artist_id)


@reads.get("/users/{user_id}", responses=_NOT_FOUND)
async def get_user(user_id: str, session: ReadSession) -> UserDto:
    return await CatalogService(session).get_user(user_id)


@reads.get("/exhibitions/{exhibition_id}", responses=_NOT_FOUND)
async def get_exhibition(exhibition_id: str, session: ReadSession) -> ExhibitionDto:
    return await CatalogService(session).get_exhibition(exhibition_id)


# -- a user's lists (keyset pages) ------------------------------------------------------------


@reads.get("/users/{user_id}/artists", responses=_NOT_FOUND)
async def list_artists(
    user_id: str,
    session: ReadSession,
    limit: PageSize = DEFAULT_PAGE_SIZE,
    after: After = None,
) -> Page[ArtistDto]:
    """The artists the user manages, by name."""
    return await CatalogService(session).artists_page(user_id=user_id, limit=limit, after=after)


@reads.get("/users/{user_id}/artworks", responses=_NOT_FOUND)
async def list_artworks(
    user_id: str,
    session: ReadSession,
    limit: PageSize = DEFAULT_PAGE_SIZE,
    after: After = None,
) -> Page[ArtworkDto]:
    """The artworks the user owns, by title."""
    return await CatalogService(session).artworks_page(user_id=user_id, limit=limit, after=after)


@reads.get("/users/{user_id}/exhibitions", responses=_NOT_FOUND)
async def list_exhibitions(
    user_id: str,
    session: ReadSession,
    limit: PageSize = DEFAULT_PAGE_SIZE,
    after: After = None,
) -> Page[ExhibitionDto]:
    """The exhibitions the user curates, most recent first."""
    return await CatalogService(session).exhibitions_page(user_id=user_id, limit=limit, after=after)


@parallel_reads.get("/users/{user_id}/dashboard", responses=_NOT_FOUND)
async def user_dashboard(
    user_id: str,
    db: DatabaseDep,
    on: Annotated[
        dt.date | None, Query(description="the day (default: the workbench's today)")
    ] = None,
) -> DashboardDto:
    """The user, their artists and artworks, and the exhibitions open on ``on``, fetched
    in parallel, each in a session of its own."""
    return await DashboardService(db).get_user_dashboard(user_id, on=on)


# -- creates ----------------------------------------------------------------------------------


class ArtistCreateRequest(BaseModel):
    """A new artist managed by ``owner_id``, optionally with their first artwork (both
    created in one transaction: an invalid artwork leaves no artist behind)."""

    model_config = ConfigDict(extra="forbid")

    owner_id: str
    artist: ArtistCreate
    artwork: ArtworkCreate | None = None


class ArtistCreated(BaseModel):
    artist: ArtistDto
    artwork: ArtworkDto | None = None


class ArtworkCreateRequest(ArtworkCreate):
    """A new artwork of an existing artist, owned by ``owner_id``."""

    artist_id: str
    owner_id: str


@writes.post("/artists", status_code=status.HTTP_201_CREATED, responses=_NOT_FOUND)
async def create_artist(
    body: ArtistCreateRequest, session: WriteSession, response: Response
) -> ArtistCreated:
    catalog = CatalogService(session)
    if body.artwork is None:
        artist = await catalog.create_artist(owner_id=body.owner_id, artist=body.artist)
        created = ArtistCreated(artist=artist)
    else:
        artist, artwork = await catalog.create_artist_with_artwork(
            owner_id=body.owner_id, artist=body.artist, artwork=body.artwork
        )
        created = ArtistCreated(artist=artist, artwork=artwork)
    response.headers["Location"] = f"/artists/{created.artist.id}"
    return created


@writes.post("/artworks", status_code=status.HTTP_201_CREATED, responses=_NOT_FOUND)
async def create_artwork(
    body: ArtworkCreateRequest, session: WriteSession, response: Response
) -> ArtworkDto:
    fields = body.model_dump(exclude={"artist_id", "owner_id"})
    artwork = await CatalogService(session).create_artwork(
        artist_id=body.artist_id, owner_id=body.owner_id, artwork=ArtworkCreate(**fields)
    )
    response.headers["Location"] = f"/artworks/{artwork.id}"
    return artwork


router = APIRouter()
router.include_router(reads)
router.include_router(parallel_reads)
router.include_router(writes)
