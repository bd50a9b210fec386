"""The floor for benchmarks/api.py: the least a server can do to answer the API's reads.

A bare Starlette app on a raw asyncpg pool, no FastAPI, no SQLAlchemy, no pydantic, no
DTOs: whatever the project's API costs above this is its framework and layering. It
answers the benchmarked routes with the same queries and roughly the same JSON:

- ``GET /artworks/{id}``: one SELECT by primary key, the fields of ``ArtworkDto``;
- ``GET /users/{id}/dashboard?on=DATE``: the user, their artists, their artworks and
  their exhibitions open on DATE, four queries in parallel on four pool connections
  (``asyncio.gather``), shaped like ``DashboardDto``;
- ``GET /health``: no database, for "is it up yet".

A request that carries ``Authorization: Bearer gat_<key id>_<secret>`` is checked the
way the API checks a token (one SELECT of the key id's digest, a constant-time
comparison; 401 otherwise), so the benchmark's token rows compare like with like;
without the header nothing is checked (the API with public reads).

Run by uvicorn (``uvicorn api_floor:create_app --factory --app-dir benchmarks``) with the
connection in ``FLOOR_DATABASE_DSN`` (an asyncpg DSN; the benchmark passes the API's
SELECT-only reader so privileges match) and ``FLOOR_POOL_SIZE`` connections per worker.
Not part of the package; imports nothing from it on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

ARTWORK_FIELDS = (
    "id, artist_id, owner_id, title, medium, year_created, width_cm, height_cm, status, "
    "list_price, acquired_at"
)
ARTWORK_BY_ID = f"SELECT {ARTWORK_FIELDS} FROM artworks WHERE id = $1"
USER_BY_ID = "SELECT id, email, display_name, created_at FROM users WHERE id = $1"
ARTISTS_OF_USER = (
    "SELECT id, owner_id, name, nationality, gender, birth_year, death_year "
    "FROM artists WHERE owner_id = $1 ORDER BY name, id"
)
ARTWORKS_OF_USER = f"SELECT {ARTWORK_FIELDS} FROM artworks WHERE owner_id = $1 ORDER BY title, id"
ACTIVE_EXHIBITIONS_OF_USER = (
    "SELECT id, curator_id, title, venue, city, starts_on, ends_on FROM exhibitions "
    "WHERE starts_on <= $2 AND ends_on >= $2 AND curator_id = $1 ORDER BY ends_on, title"
)
TOKEN_BY_KEY_ID = (
    "SELECT secret_hash, scopes FROM api_tokens WHERE key_id = $1 AND revoked_at IS NULL"
)
TOKEN = re.compile(r"Bearer gat_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})")
NO_SUCH_DIGEST = hashlib.sha256(b"no such api token").digest()


def _plain(value: object) -> object:
    """JSON for what asyncpg returns: ids, decimals and times as strings, as pydantic
    writes them."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.date):  # dates and datetimes
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _json(content: object, status_code: int = 200) -> Response:
    body = json.dumps(content, default=_plain, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=status_code, media_type="application/json")


def _not_found(entity: str) -> Response:
    return _json({"title": f"no such {entity}"}, status_code=404)


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def _authorized(request: Request) -> bool:
    """No header: allowed (public reads). A header: a read token that exists, unrevoked."""
    header = request.headers.get("authorization")
    if header is None:
        return True
    match = TOKEN.fullmatch(header)
    row = None
    if match:
        async with _pool(request).acquire() as connection:
            row = await connection.fetchrow(TOKEN_BY_KEY_ID, match.group(1))
    secret = match.group(2) if match else ""
    stored = row["secret_hash"] if row is not None else NO_SUCH_DIGEST
    digest = hashlib.sha256(secret.encode()).digest()
    return hmac.compare_digest(digest, stored) and row is not None and "read" in row["scopes"]


def _unauthorized() -> Response:
    return _json({"title": "the bearer token is not valid"}, status_code=401)


def _id(request: Request, name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.path_params[name])
    except ValueError:
        return None


async def health(request: Request) -> Response:
    return PlainTextResponse("live")


async def artwork(request: Request) -> Response:
    if not await _authorized(request):
        return _unauthorized()
    artwork_id = _id(request, "artwork_id")
    if artwork_id is None:
        return _not_found("artwork")
    async with _pool(request).acquire() as connection:
        row = await connection.fetchrow(ARTWORK_BY_ID, artwork_id)
    return _not_found("artwork") if row is None else _json(dict(row))


async def _fetch(pool: asyncpg.Pool, query: str, *args: Any) -> list[asyncpg.Record]:
    async with pool.acquire() as connection:
        rows: list[asyncpg.Record] = await connection.fetch(query, *args)
        return rows


async def dashboard(request: Request) -> Response:
    if not await _authorized(request):
        return _unauthorized()
    user_id = _id(request, "user_id")
    try:
        on = dt.date.fromisoformat(request.query_params["on"])
    except (KeyError, ValueError):
        return _json({"title": "on: expected YYYY-MM-DD"}, status_code=422)
    if user_id is None:
        return _not_found("user")
    pool = _pool(request)
    started = time.perf_counter()
    users, artists, artworks, shows = await asyncio.gather(
        _fetch(pool, USER_BY_ID, user_id),
        _fetch(pool, ARTISTS_OF_USER, user_id),
        _fetch(pool, ARTWORKS_OF_USER, user_id),
        _fetch(pool, ACTIVE_EXHIBITIONS_OF_USER, user_id, on),
    )
    if not users:
        return _not_found("user")
    return _json(
        {
            "user": dict(users[0]),
            "on": on,
            "artists": [dict(row) for row in artists],
            "artworks": [dict(row) for row in artworks],
            "active_exhibitions": [dict(row) for row in shows],
            "wall_seconds": time.perf_counter() - started,
        }
    )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    size = int(os.environ.get("FLOOR_POOL_SIZE", "10"))
    pool = await asyncpg.create_pool(os.environ["FLOOR_DATABASE_DSN"], min_size=size, max_size=size)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


def create_app() -> Starlette:
    """The floor app (a factory, so every uvicorn worker builds its own pool)."""
    return Starlette(
        routes=[
            Route("/health", health),
            Route("/artworks/{artwork_id}", artwork),
            Route("/users/{user_id}/dashboard", dashboard),
        ],
        lifespan=lifespan,
    )
