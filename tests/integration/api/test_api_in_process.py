"""The API in-process (httpx over ASGI, with the app's lifespan) against a real database:
every answer compared with the services' or the database's own, every route's access
rule, and every error as an RFC 9457 problem."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gallery_analytics.api import create_app
from gallery_analytics.api.dependencies import ReadSession
from gallery_analytics.config import PoolSettings, Settings
from gallery_analytics.db.database import Database
from gallery_analytics.domain.results import PanelResult
from gallery_analytics.panels import PANELS, table_csv
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.tokens import ApiTokenService

SECRETS_NEVER_SHOWN = ("Traceback", "asyncpg", "sqlalchemy", "password")


async def _app(settings_: Settings | None = None, *, database: Database) -> FastAPI:
    """create_app off the event loop: building it reads the docs' static files (as a
    server does once at startup, before its loop serves anything)."""
    return await asyncio.to_thread(lambda: create_app(settings_, database=database))


async def _client(app: FastAPI, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as client:
            yield client


@pytest.fixture(scope="module")
async def tokens(seeded_db: Database) -> dict[str, str]:
    """One token per scope on the shared database (the only rows tests add to it)."""
    service = ApiTokenService(seeded_db)
    made = {}
    for scope in ("read", "write", "import"):
        name = f"in-process-{scope}"
        async with seeded_db.admin_connection() as connection:
            await connection.execute("DELETE FROM api_tokens WHERE name = $1", name)
        made[scope] = await service.create(name, [scope])
    return made


@pytest.fixture
async def reader(seeded_db: Database, tokens: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(await _app(database=seeded_db), tokens["read"]):
        yield client


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["detail"]
    for word in SECRETS_NEVER_SHOWN:
        assert word not in response.text
    return body


async def _users_with_most(db: Database, table: str, column: str) -> str:
    async with db.read_session() as session:
        found = await session.scalar(
            text(f"SELECT {column}::text FROM {table} GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        )
    assert found is not None
    return str(found)


# -- answers equal the truth ------------------------------------------------------------------


async def test_lookups_equal_the_catalog_service(
    reader: httpx.AsyncClient, seeded_db: Database
) -> None:
    catalog = CatalogService(seeded_db)
    user = (await catalog.list_users(limit=1))[0]
    artist = (await catalog.list_artists(user_id=user.id, limit=1))[0]
    artwork = (await catalog.list_artworks(user_id=user.id, limit=1))[0]
    show_owner = await _users_with_most(seeded_db, "exhibitions", "curator_id")
    show = (await catalog.list_exhibitions(user_id=show_owner, limit=1))[0]
    for path, dto in [
        (f"/users/{user.id}", user),
        (f"/artists/{artist.id}", artist),
        (f"/artworks/{artwork.id}", artwork),
        (f"/exhibitions/{show.id}", show),
    ]:
        answer = await reader.get(path)
        assert answer.status_code == 200, answer.text
        assert type(dto).model_validate(answer.json()) == dto


PAGED = [
    ("artists", "artists", "owner_id", "name, id", lambda r: r["id"]),
    ("artworks", "artworks", "owner_id", "title, id", lambda r: r["id"]),
    ("exhibitions", "exhibitions", "curator_id", "starts_on DESC, title, id", lambda r: r["id"]),
]


@pytest.mark.parametrize(("route", "table", "column", "order", "key"), PAGED)
@pytest.mark.parametrize("page_size", [1, 3, 7, 1000])
async def test_walking_the_pages_gives_every_row_once_in_order(
    reader: httpx.AsyncClient,
    seeded_db: Database,
    route: str,
    table: str,
    column: str,
    order: str,
    key: Any,
    page_size: int,
) -> None:
    user_id = await _users_with_most(seeded_db, table, column)
    async with seeded_db.read_session() as session:
        truth = list(
            await session.scalars(
                text(f"SELECT id::text FROM {table} WHERE {column} = :u ORDER BY {order}"),
                {"u": user_id},
            )
        )
    walked: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": page_size} | ({"after": after} if after else {})
        page = await reader.get(f"/users/{user_id}/{route}", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= page_size
        walked += [key(item) for item in body["items"]]
        after = body["next_after"]
        if after is None:
            break
    assert walked == truth


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    after=st.one_of(
        st.text(min_size=1, max_size=300),
        st.lists(st.one_of(st.text(), st.integers(), st.none()), max_size=4).map(
            lambda values: base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
        ),
        st.just(base64.urlsafe_b64encode(b'["a", "not-a-uuid"]').decode()),
        st.just("A" * 5000),
    )
)
async def test_a_hostile_cursor_is_a_422_naming_after(
    seeded_db: Database, tokens: dict[str, str], after: str
) -> None:
    user_id = await _users_with_most(seeded_db, "artists", "owner_id")
    async for client in _client(await _app(database=seeded_db), tokens["read"]):
        answer = await client.get(f"/users/{user_id}/artists", params={"after": after})
        if answer.status_code == 200:  # a real cursor by chance: a valid page
            assert "items" in answer.json()
            continue
        assert _problem(answer, 422)["field"] == "after"


async def test_the_user_dashboard_equals_the_service(
    reader: httpx.AsyncClient, seeded_db: Database
) -> None:
    user_id = await _users_with_most(seeded_db, "exhibitions", "curator_id")
    expected = await DashboardService(seeded_db).get_user_dashboard(user_id)
    answer = await reader.get(f"/users/{user_id}/dashboard", params={"on": str(expected.on)})
    assert answer.status_code == 200
    got = type(expected).model_validate(answer.json())
    assert got.model_copy(update={"wall_seconds": 0}) == expected.model_copy(
        update={"wall_seconds": 0}
    )


FILTERS = [
    {},
    {"start": "2024-01-01", "end": "2024-12-31", "currency": "GBP"},
    {"status": "sold", "medium": ["Print", "Photography"]},
]


@pytest.mark.parametrize("filters", FILTERS)
async def test_the_overview_equals_the_service(
    reader: httpx.AsyncClient, seeded_db: Database, filters: dict[str, Any]
) -> None:
    service_filters = {("mediums" if k == "medium" else k): v for k, v in filters.items()}
    expected = await DashboardService(seeded_db).get_gallery_overview(service_filters)
    answer = await reader.get("/overview", params=filters)
    assert answer.status_code == 200, answer.text
    panels = answer.json()["panels"]
    assert set(panels) == set(expected.panels)
    for name, result in expected.panels.items():
        assert panels[name]["status"] == result.status == "ok"
        got = type(result).model_validate(panels[name])
        assert got.rows == result.rows, name


@pytest.mark.parametrize("panel", [p.name for p in PANELS])
async def test_every_download_format_holds_the_panels_rows(
    reader: httpx.AsyncClient, panel: str
) -> None:
    params = {"start": "2024-01-01", "end": "2024-12-31"}
    as_json = await reader.get(f"/overview/{panel}", params=params)
    assert as_json.status_code == 200
    rows = PanelResult.model_validate(as_json.json())
    as_csv = await reader.get(f"/overview/{panel}", params={**params, "format": "csv"})
    assert as_csv.text == table_csv(rows)
    assert len(list(csv.reader(io.StringIO(as_csv.text)))) == len(rows.rows) + 1
    parquet = await reader.get(f"/overview/{panel}", params={**params, "format": "parquet"})
    arrow = await reader.get(f"/overview/{panel}", params={**params, "format": "arrow"})
    assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    from_parquet = pq.read_table(io.BytesIO(parquet.content))
    from_arrow = pa.ipc.open_stream(arrow.content).read_all()
    assert from_parquet.cast(from_arrow.schema).equals(from_arrow)
    assert from_arrow.num_rows == len(rows.rows)
    assert from_arrow.column_names == [column.name for column in rows.columns]


# -- writes -----------------------------------------------------------------------------------


async def test_creates_are_visible_and_the_dependent_create_is_one_transaction(
    fresh_db: Database,
) -> None:
    write = await ApiTokenService(fresh_db).create("w", ["write", "read"])
    owner = (await CatalogService(fresh_db).list_users(limit=1))[0].id
    async for client in _client(await _app(database=fresh_db), write):
        made = await client.post(
            "/artists",
            json={
                "owner_id": owner,
                "artist": {"name": "Hilma af Klint", "birth_year": 1862},
                "artwork": {"title": "The Ten Largest", "status": "on_loan"},
            },
        )
        assert made.status_code == 201, made.text
        artist, artwork = made.json()["artist"], made.json()["artwork"]
        assert made.headers["location"] == f"/artists/{artist['id']}"
        assert (await client.get(f"/artworks/{artwork['id']}")).json()["artist_id"] == artist["id"]
        second = await client.post(
            "/artworks",
            json={"artist_id": artist["id"], "owner_id": owner, "title": "Svanen"},
        )
        assert second.status_code == 201, second.text

        # The artwork insert fails in the database: the artist insert before it is undone.
        async with fresh_db.admin_transaction() as connection:
            await connection.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END $$; "
                "CREATE TRIGGER refuse BEFORE INSERT ON artworks "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        failed = await client.post(
            "/artists",
            json={
                "owner_id": owner,
                "artist": {"name": "Never Stored"},
                "artwork": {"title": "Refused by the database"},
            },
        )
        _problem(failed, 409)
    async with fresh_db.read_session() as session:
        left = await session.scalar(
            text("SELECT count(*) FROM artists WHERE name = 'Never Stored'")
        )
    assert left == 0


# -- access ----------------------------------------------------------------------------------

OPEN = {
    "/health/live",
    "/health/ready",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/docs/oauth2-redirect",
}
SAMPLE_ID = "123e4567-e89b-42d3-a456-426614174000"


def _routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path with sample values, scope) of every API route, from the app's own
    OpenAPI document, so a new route cannot escape these checks."""
    found = []
    for template, operations in app.openapi()["paths"].items():
        if template in OPEN:
            continue
        path = template.replace("{panel}", PANELS[0].name)
        for name in ("artwork_id", "artist_id", "user_id", "exhibition_id", "import_id"):
            path = path.replace("{" + name + "}", SAMPLE_ID)
        for method in operations:
            if path.startswith("/imports"):
                scope = "import"
            else:
                scope = "read" if method == "get" else "write"
            found.append((method.upper(), path, scope))
    return sorted(found)


ROUTES = _routes(create_app())


def test_every_route_is_covered_by_a_scope() -> None:
    assert len(ROUTES) == 14  # 16 paths, less the two health checks
    assert {scope for *_, scope in ROUTES} == {"read", "write", "import"}


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
@pytest.mark.parametrize("public_reads", [False, True])
async def test_each_route_needs_its_scope(
    seeded_db: Database,
    tokens: dict[str, str],
    method: str,
    path: str,
    scope: str,
    public_reads: bool,
) -> None:
    app = await _app(Settings(api_public_reads=public_reads), database=seeded_db)
    async for client in _client(app):
        anonymous = await client.request(method, path)
        if public_reads and scope == "read":
            assert anonymous.status_code != 401
        else:
            assert _problem(anonymous, 401)
            assert anonymous.headers["www-authenticate"] == "Bearer"
        for other, token in tokens.items():
            answer = await client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}
            )
            if other == scope:
                assert answer.status_code not in (401, 403), answer.text
            else:
                _problem(answer, 403)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120))
async def test_any_authorization_header_is_a_401_never_a_500(
    seeded_db: Database, header: str
) -> None:
    async for client in _client(await _app(database=seeded_db)):
        answer = await client.get(f"/artworks/{SAMPLE_ID}", headers={"Authorization": header})
        _problem(answer, 401)


# -- errors -----------------------------------------------------------------------------------


async def test_not_found_and_bad_input_are_problems(reader: httpx.AsyncClient) -> None:
    assert _problem(await reader.get(f"/artworks/{SAMPLE_ID}"), 404)["entity"] == "artwork"
    assert _problem(await reader.get("/artworks/not-an-id"), 422)["field"] == "artwork_id"
    assert (
        _problem(await reader.get("/overview", params={"start": "2024-13-01"}), 422)["field"]
        == "start"
    )
    assert _problem(await reader.get("/overview/no_such_panel"), 422)["field"] == "panel"
    assert _problem(await reader.get("/overview/top_artists?format=xlsx"), 422)["field"] == "format"
    assert _problem(await reader.get("/no/such/route"), 404)


async def test_a_bad_body_names_the_field(fresh_db: Database) -> None:
    write = await ApiTokenService(fresh_db).create("w", ["write"])
    owner = (await CatalogService(fresh_db).list_users(limit=1))[0].id
    async for client in _client(await _app(database=fresh_db), write):
        answer = await client.post(
            "/artists",
            json={"owner_id": owner, "artist": {"name": "A"}, "artwork": {"title": "  "}},
        )
        assert _problem(answer, 422)["field"] == "artwork.title"
        answer = await client.post(
            "/artists", content=b"{not json", headers={"content-type": "application/json"}
        )
        _problem(answer, 422)


async def _test_app(db: Database, settings_: Settings | None = None) -> FastAPI:
    app = await _app(settings_, database=db)

    @app.get("/test/write-through-a-read")
    async def write_through_a_read(session: ReadSession) -> dict[str, str]:
        await session.execute(text("UPDATE artists SET name = 'X'"))
        return {"wrote": "yes"}

    @app.get("/test/sleep")
    async def sleep(session: ReadSession) -> dict[str, str]:
        await session.execute(text("SELECT pg_sleep(5)"))
        return {"slept": "yes"}

    @app.get("/test/bug")
    async def bug() -> dict[str, str]:
        raise RuntimeError("internal detail: postgresql://u:hunter2@h/db")

    return app


async def test_a_write_through_a_read_is_a_409_and_writes_nothing(fresh_db: Database) -> None:
    async for client in _client(await _test_app(fresh_db)):
        _problem(await client.get("/test/write-through-a-read"), 409)
    async with fresh_db.read_session() as session:
        assert await session.scalar(text("SELECT count(*) FROM artists WHERE name = 'X'")) == 0


async def test_a_statement_past_its_timeout_is_a_504(fresh_db: Database) -> None:
    quick = Database(
        fresh_db.url,
        read_url=fresh_db.read_url,
        settings=Settings(statement_timeout_seconds=0.3),
    )
    try:
        async for client in _client(await _test_app(quick)):
            _problem(await client.get("/test/sleep"), 504)
    finally:
        await quick.dispose()


async def test_an_exhausted_pool_and_a_missing_database_are_503_with_retry_after(
    fresh_db: Database,
) -> None:
    tiny = Database(
        fresh_db.url,
        read_url=fresh_db.read_url,
        settings=Settings(pool=PoolSettings(size=1, timeout_seconds=0.3)),
    )
    try:
        async for client in _client(await _test_app(tiny)):
            async with tiny.read_session() as held:
                await held.execute(text("SELECT 1"))  # the pool's only connection
                answer = await client.get("/test/sleep")
            assert _problem(answer, 503)
            assert int(answer.headers["retry-after"]) > 0
    finally:
        await tiny.dispose()
    # A socket directory with no server in it (a TCP address would have asyncpg look
    # for client certificates on disk first, a blocking call this suite refuses).
    nowhere = fresh_db.url.set(password="hunter2", query={"host": "/nonexistent/socket-dir"})
    gone = Database(nowhere, settings=Settings())
    try:
        async for client in _client(await _test_app(gone)):
            answer = await client.get("/health/ready")
            assert _problem(answer, 503)
            assert "retry-after" in answer.headers
            assert "hunter2" not in answer.text
    finally:
        await gone.dispose()


async def test_an_unexpected_error_is_a_500_that_says_nothing_inside(fresh_db: Database) -> None:
    async for client in _client(await _test_app(fresh_db)):
        answer = await client.get("/test/bug")
        body = _problem(answer, 500)
        assert "hunter2" not in answer.text
        assert "internal detail" not in body["detail"]
