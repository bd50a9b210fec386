"""Every error status the API gives, with an RFC 9457 body that leaks nothing.

Routes that fail in ways the real routes cannot be made to (a write through the read
session, a statement longer than the timeout, an unexpected exception) are added to the
app by the test (``app.include_router``), over the API's own dependencies, so what is
checked is the API's handling of that failure. Each body must be
``application/problem+json`` with type, title, status and detail, and carry no driver
text, no traceback and no password of the database URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics.api.dependencies import CanRead, ReadSession
from gallery_analytics.config import PoolSettings, Settings
from gallery_analytics.db.database import Database
from gallery_analytics.errors import GalleryAnalyticsError
from tests.browser.harness import free_port
from tests.integration.api.conftest import (
    Tokens,
    api_client,
    assert_problem,
    build_app,
    fetch_one,
)

SECRET = "s3cr3t-Do-Not-Show-7731"
PASSWORD = "Pw-9f8e7d6c-never-in-a-body"
PROBE_EMAIL = "probe@api-tests.example"
# Short enough for a test, long enough that the other statements of a request (token
# check, a lookup, a panel's connection) stay well under it on a busy machine; what
# must time out sleeps 10 s or waits on a lock held until the request has failed.
STATEMENT_TIMEOUT = 1.0


def probe_router(db_url: URL | None = None) -> APIRouter:
    """Routes that fail on purpose, through the API's own dependencies."""
    router = APIRouter(prefix="/probe", dependencies=[CanRead])

    @router.post("/insert")
    async def insert(session: ReadSession) -> dict[str, str]:
        await session.execute(
            text(
                "INSERT INTO users (id, email, display_name) "
                f"VALUES (gen_random_uuid(), '{PROBE_EMAIL}', 'Probe')"
            )
        )
        return {"wrote": "yes"}

    @router.post("/update")
    async def update(session: ReadSession) -> dict[str, str]:
        await session.execute(text("UPDATE artists SET name = 'Probe'"))
        return {"wrote": "yes"}

    @router.get("/sleep")
    async def sleep(session: ReadSession) -> dict[str, str]:
        await session.execute(text("SELECT pg_sleep(10)"))
        return {"slept": "yes"}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"unexpected: {SECRET}")

    @router.get("/boom-project")
    async def boom_project() -> None:
        raise GalleryAnalyticsError(f"a project error nobody mapped: {SECRET}")

    @router.get("/boom-url")
    async def boom_url() -> None:
        url = "" if db_url is None else db_url.render_as_string(hide_password=False)
        raise ConnectionError(f"could not reach {url}")

    return router


@contextlib.asynccontextmanager
async def probing(
    db: Database, token: str | None, settings: Settings | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = await build_app(db, settings)
    app.include_router(probe_router(db.url))
    async with api_client(db, token, app=app) as client:
        yield client


def _with(db: Database, **settings: Any) -> Database:
    """Another Database on ``db``'s roles, with its own settings and pools."""
    return Database(
        db.url, read_url=db.read_url, admin_url=db.admin_url, settings=Settings(**settings)
    )


# -- 404 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["artworks", "artists", "users", "exhibitions"])
async def test_an_unknown_id_is_a_404(reader: httpx.AsyncClient, kind: str) -> None:
    missing = str(uuid.uuid4())
    body = assert_problem(await reader.get(f"/{kind}/{missing}"), 404)
    assert body["entity"] == kind.removesuffix("s")
    assert missing in body["detail"]
    assert body["instance"] == f"/{kind}/{missing}"


@pytest.mark.parametrize("what", ["artists", "artworks", "exhibitions", "dashboard"])
async def test_a_list_of_an_unknown_user_is_a_404(reader: httpx.AsyncClient, what: str) -> None:
    body = assert_problem(await reader.get(f"/users/{uuid.uuid4()}/{what}"), 404)
    assert body["entity"] == "user"


async def test_no_such_route_or_method_is_a_problem_too(reader: httpx.AsyncClient) -> None:
    assert_problem(await reader.get("/no/such/route"), 404)
    assert_problem(await reader.delete(f"/artworks/{uuid.uuid4()}"), 405)


async def test_a_create_for_an_unknown_owner_is_a_404(
    writer: httpx.AsyncClient, fresh_db: Database
) -> None:
    before = await fetch_one(fresh_db, "SELECT count(*) FROM artists")
    body = assert_problem(
        await writer.post(
            "/artists", json={"owner_id": str(uuid.uuid4()), "artist": {"name": "N"}}
        ),
        404,
    )
    assert body["entity"] == "user"
    assert await fetch_one(fresh_db, "SELECT count(*) FROM artists") == before


# -- 422 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/artworks/not-a-uuid", {}, "artwork_id"),
        ("/artists/12", {}, "artist_id"),
        ("/users/%20", {}, "user_id"),
        ("/exhibitions/' OR 1=1 --", {}, "exhibition_id"),
        ("/users/{user}/artists", {"limit": "0"}, "limit"),
        ("/users/{user}/artworks", {"limit": "1001"}, "limit"),
        ("/users/{user}/exhibitions", {"limit": "ten"}, "limit"),
        ("/users/{user}/dashboard", {"on": "2024-02-30"}, "on"),
        ("/users/{user}/dashboard", {"on": "yesterday"}, "on"),
        ("/users/not-a-uuid/artists", {}, "user_id"),
        ("/overview", {"user_id": "not-a-uuid"}, "user_id"),
        ("/overview", {"top_n": "0"}, "top_n"),
        ("/overview", {"top_n": "many"}, "top_n"),
        ("/overview", {"medium": "No such medium"}, "mediums"),
        ("/overview/top_artists", {"format": "pdf"}, "format"),
        ("/overview/nope", {}, "panel"),
    ],
)
async def test_a_bad_path_or_query_value_is_a_422_naming_it(
    reader: httpx.AsyncClient, api_db: Database, path: str, params: dict[str, str], field: str
) -> None:
    user_id = await fetch_one(api_db, "SELECT id::text FROM users ORDER BY id LIMIT 1")
    response = await reader.get(path.replace("{user}", user_id), params=params)
    body = assert_problem(response, 422, field=field)
    assert field in body["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"artist": {"name": "X"}}, "owner_id"),
        ({"owner_id": "{owner}"}, "artist"),
        ({"owner_id": "nope", "artist": {"name": "X"}}, "owner_id"),
        ({"owner_id": "{owner}", "artist": {"name": "   "}}, "artist.name"),
        ({"owner_id": "{owner}", "artist": {"name": "X", "birth_year": 99}}, "artist.birth_year"),
        (
            {
                "owner_id": "{owner}",
                "artist": {"name": "X", "birth_year": 1900, "death_year": 1800},
            },
            "artist.death_year",
        ),
        (
            {"owner_id": "{owner}", "artist": {"name": "X"}, "artwork": {"title": ""}},
            "artwork.title",
        ),
        (
            {
                "owner_id": "{owner}",
                "artist": {"name": "X"},
                "artwork": {"title": "T", "status": "x"},
            },
            "artwork.status",
        ),
        (
            {
                "owner_id": "{owner}",
                "artist": {"name": "X"},
                "artwork": {"title": "T", "height_cm": 0},
            },
            "artwork.height_cm",
        ),
        (
            {
                "owner_id": "{owner}",
                "artist": {"name": "X"},
                "artwork": {"title": "T", "acquired_at": "2024-01-01T00:00:00"},
            },
            "artwork.acquired_at",
        ),
        ({"owner_id": "{owner}", "artist": {"name": "X"}, "surprise": 1}, "surprise"),
        ({"owner_id": "{owner}", "artist": {"name": "N\u0000UL"}}, "artist.name"),
    ],
)
async def test_a_bad_body_field_is_a_422_naming_it_and_nothing_is_written(
    writer: httpx.AsyncClient, fresh_db: Database, body: dict[str, Any], field: str
) -> None:
    owner = await fetch_one(fresh_db, "SELECT id::text FROM users ORDER BY id LIMIT 1")

    def filled(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: filled(item) for key, item in value.items()}
        return owner if value == "{owner}" else value

    before = await fetch_one(fresh_db, "SELECT count(*) FROM artists")
    problem = assert_problem(await writer.post("/artists", json=filled(body)), 422, field=field)
    assert problem["detail"].startswith(field)
    assert await fetch_one(fresh_db, "SELECT count(*) FROM artists") == before


async def test_a_rejected_value_is_not_echoed(
    writer: httpx.AsyncClient, fresh_db: Database
) -> None:
    owner = await fetch_one(fresh_db, "SELECT id::text FROM users ORDER BY id LIMIT 1")
    long_secret = SECRET * 30  # too long for a name
    response = await writer.post(
        "/artists", json={"owner_id": owner, "artist": {"name": long_secret}}
    )
    assert_problem(response, 422, field="artist.name", secrets=(SECRET,))
    response = await writer.post("/artworks", json={"artist_id": SECRET, "owner_id": owner})
    assert_problem(response, 422, secrets=(SECRET,))


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"owner_id": ']
)
async def test_a_body_that_is_not_the_expected_json_is_a_422_naming_the_body(
    writer: httpx.AsyncClient, content: bytes
) -> None:
    response = await writer.post(
        "/artists", content=content, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, field="body")


async def test_many_bad_fields_are_listed_and_counted(writer: httpx.AsyncClient) -> None:
    artwork = {"title": "", "width_cm": -1, "height_cm": -1, "year_created": 1}
    response = await writer.post(
        "/artists", json={"owner_id": "x", "artist": {"name": ""}, "artwork": artwork}
    )
    body = assert_problem(response, 422)
    fields = {error["field"] for error in body["errors"]}
    assert {"artist.name", "artwork.title", "artwork.width_cm", "artwork.height_cm"} <= fields
    assert "more)" in body["detail"]


# -- 409: a write through the read session ----------------------------------------------------


@pytest.mark.parametrize("route", ["/probe/insert", "/probe/update"])
async def test_a_write_through_the_read_session_is_a_409_and_writes_nothing(
    fresh_db: Database, fresh_tokens: Tokens, route: str
) -> None:
    users = await fetch_one(fresh_db, "SELECT count(*) FROM users")
    probes = await fetch_one(fresh_db, "SELECT count(*) FROM artists WHERE name = 'Probe'")
    async with probing(fresh_db, fresh_tokens.read) as client:
        body = assert_problem(await client.post(route), 409)
        assert "read-only" in body["detail"]
        # The session was returned to the pool in a usable state.
        artist = await fetch_one(fresh_db, "SELECT id::text FROM artists LIMIT 1")
        assert (await client.get(f"/artists/{artist}")).status_code == 200
    assert await fetch_one(fresh_db, "SELECT count(*) FROM users") == users
    assert (
        await fetch_one(fresh_db, "SELECT count(*) FROM users WHERE email = $1", PROBE_EMAIL) == 0
    )
    assert await fetch_one(fresh_db, "SELECT count(*) FROM artists WHERE name = 'Probe'") == probes


# -- 504: statement timeout -----------------------------------------------------------------


async def test_a_statement_over_the_timeout_is_a_504(api_db: Database, api_tokens: Tokens) -> None:
    async with (
        _with(api_db, statement_timeout_seconds=STATEMENT_TIMEOUT) as db,
        probing(db, api_tokens.read) as client,
    ):
        body = assert_problem(await client.get("/probe/sleep"), 504)
        assert "pg_sleep" not in body["detail"]
        # The pool is usable again: the next request works.
        artist = await fetch_one(api_db, "SELECT id::text FROM artists LIMIT 1")
        assert (await client.get(f"/artists/{artist}")).status_code == 200
        assert db.pool_status()["checked_out"] == 0


@contextlib.asynccontextmanager
async def table_locked(db: Database, table: str) -> AsyncIterator[None]:
    """``table`` locked by the schema owner until the block ends: readers wait."""
    async with db.admin_connection() as connection, connection.transaction():
        await connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield


async def test_a_panel_over_its_time_is_a_504(fresh_db: Database, fresh_tokens: Tokens) -> None:
    async with _with(fresh_db, statement_timeout_seconds=STATEMENT_TIMEOUT) as db:
        async with (
            api_client(db, fresh_tokens.read) as client,
            table_locked(fresh_db, "sales, rollup_sales_monthly, rollup_sales_daily"),
        ):
            body = assert_problem(await client.get("/overview/monthly_revenue"), 504)
            assert "monthly_revenue" in body["detail"]
            whole = await client.get("/overview")
            assert whole.status_code == 200
            assert whole.json()["panels"]["monthly_revenue"]["status"] == "timeout"
        async with api_client(db, fresh_tokens.read) as client:
            assert (await client.get("/overview/monthly_revenue")).status_code == 200


# -- 503: pool exhausted, database unavailable ----------------------------------------------


@contextlib.asynccontextmanager
async def holding_the_only_connection(db: Database) -> AsyncIterator[None]:
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with db.read_session() as session:
            await session.execute(text("SELECT 1"))
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    try:
        await held.wait()
        yield
    finally:
        release.set()
        await holder


READS = [
    "/artworks/{artwork}",
    "/users/{user}/artworks",
    "/users/{user}/dashboard",
    "/health/ready",
]


@pytest.mark.parametrize("public_reads", [False, True])
async def test_an_exhausted_pool_is_a_503_with_retry_after(
    api_db: Database, api_tokens: Tokens, public_reads: bool
) -> None:
    artwork = await fetch_one(api_db, "SELECT id::text FROM artworks LIMIT 1")
    user = await fetch_one(api_db, "SELECT owner_id::text FROM artworks LIMIT 1")
    pool = PoolSettings(size=1, max_overflow=0, timeout_seconds=0.2)
    settings = Settings(pool=pool, api_public_reads=public_reads)
    token = None if public_reads else api_tokens.read
    async with _with(api_db, pool=pool) as db, api_client(db, token, settings=settings) as client:
        async with holding_the_only_connection(db):
            for path in READS:
                response = await client.get(path.format(artwork=artwork, user=user))
                assert_problem(response, 503)
        # Released: the same requests work.
        for path in READS:
            response = await client.get(path.format(artwork=artwork, user=user))
            assert response.status_code == 200, (path, response.text)


async def test_a_panel_with_no_connection_free_is_a_503(
    api_db: Database, api_tokens: Tokens
) -> None:
    pool = PoolSettings(size=1, max_overflow=0, timeout_seconds=0.2)
    settings = Settings(pool=pool, api_public_reads=True)
    async with (
        _with(api_db, pool=pool) as db,
        api_client(db, settings=settings) as client,
        holding_the_only_connection(db),
    ):
        assert_problem(await client.get("/overview/top_artists"), 503)


def _unreachable(password: str = PASSWORD) -> Database:
    """A Database whose server is a closed loopback port (a free one: nothing listens);
    its URL carries a password."""
    url = URL.create(
        "postgresql+asyncpg",
        username="gallery_app",
        password=password,
        host="127.0.0.1",
        port=free_port(),
        database="gallery",
        # No TLS: asyncpg would look for client certificates on the event loop's thread.
        query={"sslmode": "disable"},
    )
    return Database(url, settings=Settings(pool=PoolSettings(timeout_seconds=2)))


@pytest.mark.parametrize("public_reads", [False, True])
async def test_an_unreachable_database_is_a_503_that_shows_no_password(
    api_tokens: Tokens, public_reads: bool
) -> None:
    settings = Settings(api_public_reads=public_reads)
    token = None if public_reads else api_tokens.read
    async with _unreachable() as db, api_client(db, token, settings=settings) as client:
        for path in [
            f"/artworks/{uuid.uuid4()}",
            f"/users/{uuid.uuid4()}/artists",
            f"/users/{uuid.uuid4()}/dashboard",
            "/health/ready",
        ]:
            response = await client.get(path)
            assert_problem(response, 503, secrets=(PASSWORD, "gallery_app:"))
        assert (await client.get("/health/live")).status_code == 200


async def test_a_panel_on_an_unreachable_database_is_a_503() -> None:
    settings = Settings(api_public_reads=True)
    async with _unreachable() as db, api_client(db, settings=settings) as client:
        assert_problem(await client.get("/overview/key_figures"), 503, secrets=(PASSWORD,))


async def test_an_overview_with_no_database_at_all_is_a_503() -> None:
    """One failing panel does not fail the overview; every panel failing because the
    database cannot be reached is an outage, and a 200 would hide it from a client's
    retry logic and from monitoring."""
    settings = Settings(api_public_reads=True)
    async with _unreachable() as db, api_client(db, settings=settings) as client:
        assert_problem(await client.get("/overview"), 503, secrets=(PASSWORD,))


async def test_writes_on_an_unreachable_database_are_a_503(fresh_tokens: Tokens) -> None:
    async with _unreachable() as db, api_client(db, fresh_tokens.write) as client:
        # The token cannot even be checked: 503, never 401 (the token may be fine).
        response = await client.post(
            "/artists", json={"owner_id": str(uuid.uuid4()), "artist": {"name": "X"}}
        )
        assert_problem(response, 503, secrets=(PASSWORD,))


# -- 500 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/probe/boom", "/probe/boom-project", "/probe/boom-url"])
async def test_an_unexpected_error_is_a_generic_500(
    api_db: Database, api_tokens: Tokens, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with probing(api_db, api_tokens.read) as client:
        response = await client.get(route)
        body = assert_problem(response, 500, secrets=(SECRET, "could not reach"))
        assert body["detail"] == "the server failed to handle this request; the error is in its log"
    # The server's log has it, for whoever runs the server.
    assert any(record.levelname == "ERROR" for record in caplog.records)


# -- no password anywhere -------------------------------------------------------------------


async def test_no_problem_body_shows_the_database_password(
    fresh_db: Database, fresh_tokens: Tokens
) -> None:
    """The same database reached through URLs with a password (the test server trusts
    local connections, so it is accepted): every kind of error, none shows it."""
    db = Database(
        fresh_db.url.set(password=PASSWORD),
        read_url=fresh_db.read_url.set(password=PASSWORD),
        admin_url=fresh_db.admin_url.set(password=PASSWORD),
        settings=Settings(statement_timeout_seconds=STATEMENT_TIMEOUT),
    )
    async with db, probing(db, fresh_tokens.every) as client:
        owner = await fetch_one(fresh_db, "SELECT id::text FROM users LIMIT 1")
        responses = [
            (await client.get(f"/artworks/{uuid.uuid4()}"), 404),
            (await client.get("/artworks/nope"), 422),
            (await client.post("/artists", json={"owner_id": owner, "artist": {}}), 422),
            (await client.post("/probe/insert"), 409),
            (await client.get("/probe/sleep"), 504),
            (await client.get("/probe/boom"), 500),
            (await client.get("/probe/boom-url"), 500),
            (await client.post("/imports", content=b"x"), 422),
        ]
        async with probing(db, "gat_x") as anonymous:
            responses.append((await anonymous.get(f"/artworks/{uuid.uuid4()}"), 401))
        async with probing(db, fresh_tokens.read) as read_only:
            responses.append((await read_only.post("/imports", content=b"x"), 403))
        for response, status in responses:
            assert_problem(response, status, secrets=(PASSWORD, SECRET))
