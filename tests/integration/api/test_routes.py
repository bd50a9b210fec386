"""Every endpoint of the API, in process, compared with the truth: the services' own
results, or SQL run with the bare driver as the schema owner (never just "200").

Lists are walked page by page (``limit``, ``after`` = the previous ``next_after``) and
must give exactly the rows of an independent ``ORDER BY``, with no duplicate or gap;
hostile cursors are a 422 naming ``after``. Downloads are parsed with their own readers
(csv, pyarrow) and compared with the JSON rows. The dependent create is made to fail
at the database, after the artist's insert, so only a real rollback leaves no artist.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from gallery_analytics.db.admin import create_database, drop_database
from gallery_analytics.db.connect import application_database
from gallery_analytics.db.database import Database
from gallery_analytics.db.roles import provision_database
from gallery_analytics.db.schema import HEAD_REVISION
from gallery_analytics.domain.results import PanelResult
from gallery_analytics.frames import to_frame
from gallery_analytics.panels import PANELS, table_csv
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService
from tests.conftest import unique_database_name
from tests.integration.api.conftest import (
    Tokens,
    api_client,
    assert_problem,
    fetch,
    fetch_one,
    json_equal,
)

# -- lookups --------------------------------------------------------------------------------

LOOKUPS = {
    "artworks": ("artworks", CatalogService.get_artwork),
    "artists": ("artists", CatalogService.get_artist),
    "users": ("users", CatalogService.get_user),
    "exhibitions": ("exhibitions", CatalogService.get_exhibition),
}


@pytest.mark.parametrize("kind", sorted(LOOKUPS))
async def test_a_lookup_equals_the_catalog_service(
    reader: httpx.AsyncClient, api_db: Database, kind: str
) -> None:
    table, get = LOOKUPS[kind]
    rows = await fetch(
        api_db,
        f"(SELECT id::text AS id FROM {table} ORDER BY id LIMIT 3) "
        f"UNION (SELECT id::text FROM {table} ORDER BY id DESC LIMIT 2)",
    )
    assert len(rows) == 5
    for row in rows:
        expected = await get(CatalogService(api_db), row["id"])
        got = await reader.get(f"/{kind}/{row['id']}")
        json_equal(got, expected.model_dump(mode="json"))
        # The same id in upper case is the same row (ids are UUIDs, not strings).
        again = await reader.get(f"/{kind}/{row['id'].upper()}")
        json_equal(again, expected.model_dump(mode="json"))


async def test_an_artwork_lookup_equals_its_row(
    reader: httpx.AsyncClient, api_db: Database
) -> None:
    [row] = await fetch(
        api_db,
        "SELECT id::text, artist_id::text, owner_id::text, title, medium, status::text, "
        "list_price::text FROM artworks WHERE list_price IS NOT NULL ORDER BY id LIMIT 1",
    )
    got = (await reader.get(f"/artworks/{row['id']}")).json()
    for name in ("id", "artist_id", "owner_id", "title", "medium", "status", "list_price"):
        assert got[name] == row[name], name


# -- keyset pages ---------------------------------------------------------------------------

# How each list is documented to be ordered, as independent SQL.
LISTS = {
    "artists": "SELECT id::text AS id FROM artists WHERE owner_id = $1::uuid ORDER BY name, id",
    "artworks": "SELECT id::text AS id FROM artworks WHERE owner_id = $1::uuid ORDER BY title, id",
    "exhibitions": (
        "SELECT id::text AS id FROM exhibitions WHERE curator_id = $1::uuid "
        "ORDER BY starts_on DESC, title, id"
    ),
}


async def walk(client: httpx.AsyncClient, path: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a list, page by page; each page but the last is full."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(100_000):
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_after"}
        items.extend(page["items"])
        after = page["next_after"]
        if after is None:
            assert len(page["items"]) <= limit
            return items
        assert len(page["items"]) == limit, "a page before the last is short"
    raise AssertionError("the pages never ended")


async def _users(db: Database) -> list[str]:
    """Users with the most artworks, artists and exhibitions, and one with the fewest."""
    rows = await fetch(
        db,
        """
        SELECT u.id::text AS id,
               (SELECT count(*) FROM artworks w WHERE w.owner_id = u.id) AS works,
               (SELECT count(*) FROM artists a WHERE a.owner_id = u.id) AS artists,
               (SELECT count(*) FROM exhibitions e WHERE e.curator_id = u.id) AS shows
        FROM users u ORDER BY u.id
        """,
    )
    chosen = {
        max(rows, key=lambda r: r["works"])["id"],
        max(rows, key=lambda r: r["artists"])["id"],
        max(rows, key=lambda r: r["shows"])["id"],
        min(rows, key=lambda r: (r["shows"], r["artists"], r["works"]))["id"],
    }
    return sorted(chosen)


@pytest.mark.parametrize("kind", sorted(LISTS))
async def test_pages_walk_the_whole_list_in_its_documented_order(
    reader: httpx.AsyncClient, api_db: Database, kind: str
) -> None:
    service = CatalogService(api_db)
    listed = {
        "artists": service.list_artists,
        "artworks": service.list_artworks,
        "exhibitions": service.list_exhibitions,
    }[kind]
    for user_id in await _users(api_db):
        truth = [row["id"] for row in await fetch(api_db, LISTS[kind], user_id)]
        whole = [item.model_dump(mode="json") for item in await listed(user_id=user_id)]
        for limit in (1, 2, 7, 50, 1000):
            items = await walk(reader, f"/users/{user_id}/{kind}", limit)
            ids = [item["id"] for item in items]
            assert len(set(ids)) == len(ids), "an item came twice"
            assert ids == truth, (kind, user_id, limit)
            assert items == json.loads(json.dumps(whole))


async def test_pages_break_ties_by_id(fresh_db: Database, fresh_tokens: Tokens) -> None:
    """Equal names, titles and dates: the id decides, and a cursor between two equal
    names neither skips nor repeats."""
    user_id = await fetch_one(fresh_db, "SELECT id::text FROM users ORDER BY id LIMIT 1")
    artist_id = await fetch_one(
        fresh_db, "SELECT id::text FROM artists WHERE owner_id = $1::uuid LIMIT 1", user_id
    )
    async with fresh_db.admin_connection() as connection:
        for _ in range(5):
            await connection.execute(
                "INSERT INTO artists (id, owner_id, name) VALUES (gen_random_uuid(), $1, 'Tie')",
                uuid.UUID(user_id),
            )
            await connection.execute(
                "INSERT INTO artworks (id, artist_id, owner_id, title) "
                "VALUES (gen_random_uuid(), $1, $2, 'Tie')",
                uuid.UUID(artist_id),
                uuid.UUID(user_id),
            )
            await connection.execute(
                "INSERT INTO exhibitions (id, curator_id, title, venue, city, starts_on, ends_on) "
                "VALUES (gen_random_uuid(), $1, 'Tie', 'V', 'C', '2024-03-01', '2024-04-01')",
                uuid.UUID(user_id),
            )
    async with api_client(fresh_db, fresh_tokens.read) as client:
        for kind, sql in LISTS.items():
            truth = [row["id"] for row in await fetch(fresh_db, sql, user_id)]
            for limit in (1, 2, 3, 4):
                ids = [item["id"] for item in await walk(client, f"/users/{user_id}/{kind}", limit)]
                assert ids == truth, (kind, limit)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    limit=st.integers(min_value=1, max_value=80),
    kind=st.sampled_from(sorted(LISTS)),
    pick=st.integers(min_value=0, max_value=10_000),
)
async def test_any_page_size_gives_the_same_list(
    reader: httpx.AsyncClient, api_db: Database, limit: int, kind: str, pick: int
) -> None:
    users = [row["id"] for row in await fetch(api_db, "SELECT id::text FROM users ORDER BY id")]
    user_id = users[pick % len(users)]
    truth = [row["id"] for row in await fetch(api_db, LISTS[kind], user_id)]
    ids = [item["id"] for item in await walk(reader, f"/users/{user_id}/{kind}", limit)]
    assert ids == truth


def _cursor(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _row_cursor(kind: str, text: object, *, date: object = "2024-01-01") -> str:
    """A cursor of the right arity for ``kind`` whose text value is ``text``."""
    ident = str(uuid.uuid4())
    values = [date, text, ident] if kind == "exhibitions" else [text, ident]
    return _cursor(values)


HOSTILE_CURSORS: dict[str, Any] = {
    "random text": "not a cursor at all",
    "not base64": "!!!***",
    "empty": "",
    "short junk": "W" * 40,
    "base64 of an object": _cursor({"name": "Monet", "id": str(uuid.uuid4())}),
    "base64 of a number": _cursor(12),
    "one value": _cursor(["Monet"]),
    "four values": _cursor(["2024-01-01", "Monet", str(uuid.uuid4()), "x"]),
    "wrong types": _cursor([1, 2]),
    "id not a uuid": lambda kind: _cursor(
        (["2024-01-01"] if kind == "exhibitions" else []) + ["Monet", "not-a-uuid"]
    ),
    "deep json": base64.urlsafe_b64encode(b"[" * 1500 + b"]" * 1500).decode().rstrip("="),
    "not utf-8": _cursor(b"\xff\xfe\xfd"),
    "huge": "A" * 10_000,
    "just over the limit": "A" * 2049,
    "text not a string": lambda kind: _row_cursor(kind, 42),
    "huge name": lambda kind: _row_cursor(kind, "M" * 20_000),
    "bad date": lambda kind: (
        _row_cursor(kind, "Monet", date="2024-13-45")
        if kind == "exhibitions"
        else _cursor(["Monet", "2024-13-45"])
    ),
    "date as number": lambda kind: (
        _row_cursor(kind, "Monet", date=20240101)
        if kind == "exhibitions"
        else _cursor([20240101, str(uuid.uuid4())])
    ),
    # Values PostgreSQL cannot take as text: refused as a bad cursor, not sent to it.
    "nul in the name": lambda kind: _row_cursor(kind, "Mo\u0000net"),
    "lone surrogate": lambda kind: _row_cursor(kind, "\ud800"),
}


@pytest.mark.parametrize("kind", sorted(LISTS))
@pytest.mark.parametrize("name", sorted(HOSTILE_CURSORS))
async def test_a_hostile_cursor_is_a_422_naming_after(
    reader: httpx.AsyncClient, api_db: Database, kind: str, name: str
) -> None:
    user_id = await fetch_one(api_db, "SELECT id::text FROM users ORDER BY id LIMIT 1")
    cursor = HOSTILE_CURSORS[name]
    after = cursor(kind) if callable(cursor) else cursor
    response = await reader.get(f"/users/{user_id}/{kind}", params={"after": after})
    assert_problem(response, 422, field="after")


# Any text JSON can carry, NUL and lone surrogates included.
# (Joined by hand: st.text never draws a surrogate, whatever its alphabet.)
ANY_TEXT = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff"])), max_size=40
).map("".join)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(sorted(LISTS)),
    after=st.one_of(
        st.text(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
            lambda inner: st.lists(inner, max_size=4),
            max_leaves=8,
        ).map(_cursor),
        st.tuples(ANY_TEXT, st.uuids().map(str)).map(lambda t: _cursor(list(t))),
        st.tuples(st.dates().map(str), ANY_TEXT, st.uuids().map(str)).map(
            lambda t: _cursor(list(t))
        ),
    ),
)
async def test_any_cursor_is_a_page_or_a_422_never_a_500(
    reader: httpx.AsyncClient, api_db: Database, kind: str, after: str
) -> None:
    user_id = await fetch_one(api_db, "SELECT id::text FROM users ORDER BY id LIMIT 1")
    response = await reader.get(f"/users/{user_id}/{kind}", params={"after": after})
    if response.status_code != 200:
        assert_problem(response, 422, field="after")


# -- the user dashboard ---------------------------------------------------------------------


def _without_timing(value: dict[str, Any]) -> dict[str, Any]:
    # When and how a panel was read (its own wait, the panel cache) differs per request.
    timing = {"wall_seconds", "cached_at", "from_cache"}
    return {key: item for key, item in value.items() if key not in timing}


@pytest.mark.parametrize("on", [None, "2024-06-01", "2023-01-15", "1990-01-01"])
async def test_the_user_dashboard_equals_the_service(
    reader: httpx.AsyncClient, api_db: Database, on: str | None
) -> None:
    for user_id in await _users(api_db):
        day = None if on is None else dt.date.fromisoformat(on)
        expected = await DashboardService(api_db).get_user_dashboard(user_id, on=day)
        params = {} if on is None else {"on": on}
        response = await reader.get(f"/users/{user_id}/dashboard", params=params)
        assert response.status_code == 200, response.text
        got = response.json()
        assert isinstance(got["wall_seconds"], float)
        assert _without_timing(got) == _without_timing(expected.model_dump(mode="json"))
    # Somebody has an exhibition open on the day, so the comparison covers a non-empty list.
    if on == "2024-06-01":
        assert await fetch_one(
            api_db,
            "SELECT count(*) FROM exhibitions WHERE '2024-06-01' BETWEEN starts_on AND ends_on",
        )


# -- the overview ---------------------------------------------------------------------------


async def _filter_cases(db: Database) -> list[list[tuple[str, str]]]:
    service = DashboardService(db)
    mediums = await service.list_mediums()
    currencies = [c for c in await service.list_currencies() if c != "EUR"]
    user_id = await fetch_one(
        db, "SELECT owner_id::text FROM artworks GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )
    assert len(mediums) >= 2
    assert currencies
    return [
        [],
        [("start", "2024-01-01"), ("end", "2024-06-30")],
        [("medium", mediums[0]), ("medium", mediums[1])],
        [("status", "sold")],
        [("user_id", user_id)],
        [("currency", currencies[0])],
        [
            ("start", "2023-03-01"),
            ("end", "2024-12-31"),
            ("medium", mediums[0]),
            ("medium", mediums[-1]),
            ("status", "available"),
            ("user_id", user_id),
            ("currency", currencies[-1]),
        ],
    ]


def _as_service_filters(query: list[tuple[str, str]]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for name, value in query:
        if name == "medium":
            filters.setdefault("mediums", []).append(value)
        else:
            filters[name] = value
    return filters


def _panel_truth(panel: PanelResult) -> dict[str, Any]:
    return _without_timing(json.loads(panel.model_dump_json()))


async def test_the_overview_equals_the_service_for_each_filter(
    reader: httpx.AsyncClient, api_db: Database
) -> None:
    for query in await _filter_cases(api_db):
        expected = await DashboardService(api_db).get_gallery_overview(_as_service_filters(query))
        response = await reader.get("/overview", params=query)
        assert response.status_code == 200, (query, response.text)
        got = response.json()
        assert set(got["panels"]) == {panel.name for panel in PANELS}
        for name, panel in expected.panels.items():
            assert panel.status == "ok", (name, panel.error)
            assert isinstance(got["panels"][name]["wall_seconds"], float)
            assert _without_timing(got["panels"][name]) == _panel_truth(panel), (query, name)
        # Something is counted, so equal rows are not two empty lists.
        assert any(panel.rows for panel in expected.panels.values()), query


@pytest.mark.parametrize("panel_name", [panel.name for panel in PANELS])
async def test_each_panel_downloads_in_every_format_with_the_same_rows(
    reader: httpx.AsyncClient, api_db: Database, panel_name: str
) -> None:
    query = [("start", "2023-01-01"), ("end", "2024-12-31"), ("currency", "USD")]
    loaded = await DashboardService(api_db).get_gallery_overview(
        _as_service_filters(query), panels=[panel_name]
    )
    expected = loaded[panel_name]
    assert expected.status == "ok", expected.error

    as_json = await reader.get(f"/overview/{panel_name}", params=[*query, ("format", "json")])
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == "application/json"
    rows = as_json.json()["rows"]
    assert _without_timing(as_json.json()) == _panel_truth(expected)
    # The default format is JSON.
    default = await reader.get(f"/overview/{panel_name}", params=query)
    assert _without_timing(default.json()) == _without_timing(as_json.json())

    as_csv = await reader.get(f"/overview/{panel_name}", params=[*query, ("format", "csv")])
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert f'filename="{panel_name}.csv"' in as_csv.headers["content-disposition"]
    assert as_csv.text == table_csv(expected)
    parsed = list(csv.reader(io.StringIO(as_csv.text, newline="")))
    headings = [column.heading() for column in expected.columns]
    assert parsed[0] == headings
    assert len(parsed) - 1 == len(rows)
    for line, row in zip(parsed[1:], rows, strict=True):
        for cell, column in zip(line, expected.columns, strict=True):
            value = row[column.name]
            if value is None:
                assert cell == ""
            elif isinstance(value, int | float) and not isinstance(value, bool):
                assert float(cell) == pytest.approx(float(value)), column.name
            elif isinstance(value, str) and not value.startswith(("=", "+", "-", "@")):
                assert cell in (value, value.split("T")[0]) or cell.startswith(value[:10])

    frame = to_frame(expected)
    as_parquet = await reader.get(f"/overview/{panel_name}", params=[*query, ("format", "parquet")])
    assert as_parquet.status_code == 200, as_parquet.text
    assert as_parquet.headers["content-type"] == "application/vnd.apache.parquet"
    # Read in a worker thread: pyarrow opens the time-zone database for timestamp columns.
    from_parquet = await asyncio.to_thread(pq.read_table, io.BytesIO(as_parquet.content))
    assert from_parquet.column_names == [column.name for column in expected.columns]
    assert from_parquet.num_rows == len(rows)
    pd.testing.assert_frame_equal(await asyncio.to_thread(from_parquet.to_pandas), frame)

    as_arrow = await reader.get(f"/overview/{panel_name}", params=[*query, ("format", "arrow")])
    assert as_arrow.status_code == 200, as_arrow.text
    assert as_arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
    from_arrow = await asyncio.to_thread(lambda: pa.ipc.open_stream(as_arrow.content).read_all())
    assert from_arrow.num_rows == len(rows)
    assert from_arrow.column_names == from_parquet.column_names
    pd.testing.assert_frame_equal(await asyncio.to_thread(from_arrow.to_pandas), frame)


async def test_an_unknown_panel_or_format_is_a_422(reader: httpx.AsyncClient) -> None:
    assert_problem(await reader.get("/overview/no_such_panel"), 422, field="panel")
    assert_problem(
        await reader.get("/overview/key_figures", params={"format": "xlsx"}), 422, field="format"
    )
    assert_problem(await reader.get("/overview", params={"medium": "Nope"}), 422, field="mediums")
    assert_problem(await reader.get("/overview", params={"start": "2024-02-30"}), 422)
    assert_problem(await reader.get("/overview", params={"status": "stolen"}), 422)
    assert_problem(await reader.get("/overview", params={"currency": "euros"}), 422)


# -- creates --------------------------------------------------------------------------------


def assert_same_artwork(response: httpx.Response, created: dict[str, Any]) -> None:
    """The artwork GET returns is the one created: the same values (numbers as numbers,
    times as instants; the exact text is test_a_created_body_is_what_get_returns's)."""
    assert response.status_code == 200, response.text
    got = response.json()
    assert set(got) == set(created)
    for name, value in created.items():
        if value is None or name not in ("width_cm", "height_cm", "list_price", "acquired_at"):
            assert got[name] == value, name
        elif name == "acquired_at":
            assert dt.datetime.fromisoformat(got[name]) == dt.datetime.fromisoformat(value)
        else:
            assert Decimal(got[name]) == Decimal(value), name


async def _owner_and_artist(db: Database) -> tuple[str, str]:
    row = (
        await fetch(db, "SELECT owner_id::text AS owner, id::text AS artist FROM artists LIMIT 1")
    )[0]
    return row["owner"], row["artist"]


async def test_create_an_artist_alone_and_with_a_first_artwork(
    writer: httpx.AsyncClient, fresh_db: Database
) -> None:
    owner_id, _ = await _owner_and_artist(fresh_db)
    alone = await writer.post(
        "/artists",
        json={
            "owner_id": owner_id,
            "artist": {"name": "Hilma af Klint", "nationality": "Swedish", "birth_year": 1862},
        },
    )
    assert alone.status_code == 201, alone.text
    body = alone.json()
    assert body["artwork"] is None
    artist_id = body["artist"]["id"]
    assert alone.headers["location"] == f"/artists/{artist_id}"
    json_equal(await writer.get(alone.headers["location"]), body["artist"])
    [row] = await fetch(
        fresh_db,
        "SELECT owner_id::text, name, nationality, birth_year FROM artists WHERE id = $1::uuid",
        artist_id,
    )
    assert row == {
        "owner_id": owner_id,
        "name": "Hilma af Klint",
        "nationality": "Swedish",
        "birth_year": 1862,
    }

    both = await writer.post(
        "/artists",
        json={
            "owner_id": owner_id,
            "artist": {"name": "Agnes Martin"},
            "artwork": {"title": "Friendship", "medium": "Gold leaf", "width_cm": "190.5"},
        },
    )
    assert both.status_code == 201, both.text
    made = both.json()
    assert made["artwork"]["artist_id"] == made["artist"]["id"]
    json_equal(await writer.get(both.headers["location"]), made["artist"])
    assert_same_artwork(await writer.get(f"/artworks/{made['artwork']['id']}"), made["artwork"])
    [work] = await fetch(
        fresh_db,
        "SELECT artist_id::text, owner_id::text, title, width_cm::text FROM artworks "
        "WHERE id = $1::uuid",
        made["artwork"]["id"],
    )
    assert work == {
        "artist_id": made["artist"]["id"],
        "owner_id": owner_id,
        "title": "Friendship",
        "width_cm": "190.50",
    }


async def test_create_an_artwork(writer: httpx.AsyncClient, fresh_db: Database) -> None:
    owner_id, artist_id = await _owner_and_artist(fresh_db)
    before = await fetch_one(fresh_db, "SELECT count(*) FROM artworks")
    made = await writer.post(
        "/artworks",
        json={
            "artist_id": artist_id,
            "owner_id": owner_id,
            "title": "Untitled (API)",
            "status": "on_loan",
            "list_price": "1200.50",
            "acquired_at": "2024-05-01T12:00:00+02:00",
        },
    )
    assert made.status_code == 201, made.text
    artwork = made.json()
    assert made.headers["location"] == f"/artworks/{artwork['id']}"
    assert_same_artwork(await writer.get(made.headers["location"]), artwork)
    assert await fetch_one(fresh_db, "SELECT count(*) FROM artworks") == before + 1
    [row] = await fetch(
        fresh_db,
        "SELECT title, status::text, list_price::text, acquired_at FROM artworks "
        "WHERE id = $1::uuid",
        artwork["id"],
    )
    assert row["title"] == "Untitled (API)"
    assert row["status"] == "on_loan"
    assert row["list_price"] == "1200.50"
    assert row["acquired_at"] == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)


async def test_a_created_body_is_what_get_returns(
    writer: httpx.AsyncClient, fresh_db: Database
) -> None:
    """A client keeps the 201 body as the resource: it must be the stored row as GET
    shows it (numbers at their stored scale, times in UTC), not an echo of the input."""
    owner_id, artist_id = await _owner_and_artist(fresh_db)
    artwork = {"title": "Echo", "width_cm": "12.5", "acquired_at": "2024-05-01T12:00:00+02:00"}
    made = await writer.post(
        "/artworks", json={"artist_id": artist_id, "owner_id": owner_id, **artwork}
    )
    assert made.status_code == 201, made.text
    json_equal(await writer.get(made.headers["location"]), made.json())
    both = await writer.post(
        "/artists", json={"owner_id": owner_id, "artist": {"name": "Echo"}, "artwork": artwork}
    )
    assert both.status_code == 201, both.text
    json_equal(
        await writer.get(f"/artworks/{both.json()['artwork']['id']}"), both.json()["artwork"]
    )


REFUSED_TITLE = "Refused by the database"


@pytest.fixture(params=["check constraint", "trigger"])
async def refusing_artworks(request: pytest.FixtureRequest, fresh_db: Database) -> int:
    """The artworks table refuses one title at the database, as the schema owner made
    it: by a CHECK constraint (a conflict, 409) or a trigger that raises (500). Returns
    the status the API should give."""
    async with fresh_db.admin_connection() as connection:
        if request.param == "check constraint":
            await connection.execute(
                "ALTER TABLE artworks ADD CONSTRAINT api_test_refuses "
                f"CHECK (title <> '{REFUSED_TITLE}') NOT VALID"
            )
            return 409
        await connection.execute(
            f"""
            CREATE FUNCTION api_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.title = '{REFUSED_TITLE}' THEN
                RAISE EXCEPTION 'refused by a test trigger';
              END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER api_test_refuse BEFORE INSERT ON artworks
              FOR EACH ROW EXECUTE FUNCTION api_test_refuse();
            """
        )
        return 500


async def test_the_dependent_create_is_rolled_back_when_the_artwork_insert_fails(
    writer: httpx.AsyncClient, fresh_db: Database, refusing_artworks: int
) -> None:
    owner_id, _ = await _owner_and_artist(fresh_db)
    artists_before = await fetch_one(fresh_db, "SELECT count(*) FROM artists")
    works_before = await fetch_one(fresh_db, "SELECT count(*) FROM artworks")
    response = await writer.post(
        "/artists",
        json={
            "owner_id": owner_id,
            "artist": {"name": "Left No Trace"},
            "artwork": {"title": REFUSED_TITLE},
        },
    )
    assert_problem(response, refusing_artworks)
    assert "location" not in response.headers
    assert await fetch_one(fresh_db, "SELECT count(*) FROM artists") == artists_before
    assert (
        await fetch_one(fresh_db, "SELECT count(*) FROM artists WHERE name = 'Left No Trace'") == 0
    )
    assert await fetch_one(fresh_db, "SELECT count(*) FROM artworks") == works_before
    # The database did refuse at the artwork (the same artist alone is created).
    alone = await writer.post(
        "/artists", json={"owner_id": owner_id, "artist": {"name": "Left No Trace"}}
    )
    assert alone.status_code == 201, alone.text
    assert await fetch_one(fresh_db, "SELECT count(*) FROM artists") == artists_before + 1


async def test_an_invalid_first_artwork_leaves_no_artist(
    writer: httpx.AsyncClient, fresh_db: Database
) -> None:
    owner_id, _ = await _owner_and_artist(fresh_db)
    before = await fetch_one(fresh_db, "SELECT count(*) FROM artists")
    response = await writer.post(
        "/artists",
        json={
            "owner_id": owner_id,
            "artist": {"name": "Never Made"},
            "artwork": {"title": "x", "width_cm": "-3"},
        },
    )
    assert_problem(response, 422, field="artwork.width_cm")
    assert await fetch_one(fresh_db, "SELECT count(*) FROM artists") == before


# -- health ---------------------------------------------------------------------------------


async def test_live_and_ready(api_db: Database) -> None:
    async with api_client(api_db) as client:  # no token needed
        live = await client.get("/health/live")
        assert live.status_code == 200
        assert live.json() == {"status": "live"}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "schema_revision": HEAD_REVISION}
        assert await fetch_one(api_db, "SELECT version_num FROM alembic_version") == HEAD_REVISION


async def test_not_ready_when_the_schema_is_behind(fresh_db: Database) -> None:
    async with fresh_db.admin_connection() as connection:
        await connection.execute("UPDATE alembic_version SET version_num = '0003'")
    async with api_client(fresh_db) as client:
        ready = await client.get("/health/ready")
        body = assert_problem(ready, 503)
        assert "0003" in body["detail"]
        assert HEAD_REVISION in body["detail"]
        live = await client.get("/health/live")
        assert live.status_code == 200


@pytest.fixture
async def unmigrated_db(server_url: URL) -> AsyncIterator[Database]:
    """A provisioned database without any migration run."""
    name = unique_database_name("gallery_api_bare")
    await create_database(server_url, name)
    await provision_database(server_url, name)
    try:
        async with application_database(server_url, name) as db:
            yield db
    finally:
        await drop_database(server_url, name)


async def test_not_ready_without_a_schema(unmigrated_db: Database) -> None:
    async with api_client(unmigrated_db) as client:
        body = assert_problem(await client.get("/health/ready"), 503)
        assert "no gallery schema" in body["detail"]
        assert (await client.get("/health/live")).status_code == 200
