"""Every public entry point given bad input, against a real PostgreSQL.

Wrong types, malformed ids, empty strings, huge numbers, reversed date ranges, unknown
enum values, SQL-injection strings, non-UTF-8 bytes and NUL characters. The contract:

- a :class:`GalleryAnalyticsError` subclass (a :class:`ValidationError` naming the field
  when the input is at fault), never a driver, pydantic, Type or Attribute error;
- nothing written (table checksums before and after, on a private database);
- the database and pool still healthy afterwards (no connection left checked out, and
  a normal query still works);
- for the CLI: exit code 2, one ``error: ...`` line on stderr, no traceback.

Cases marked ``NUL_BUG``/``bug(...)`` exposed bugs when written; they are fixed, and the
marks (now empty) keep the reason next to the case.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from gallery_analytics import CatalogService, DashboardService, NotFoundError, ValidationError
from gallery_analytics.cli import main
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Exhibition, User
from gallery_analytics.errors import DatabaseError, GalleryAnalyticsError, ReadOnlyError
from gallery_analytics.frames import extract_frame
from gallery_analytics.reports import check_parameters
from tests.conftest import _clone, run_cli
from tests.helpers import count_rows, table_checksums

NIL = "00000000-0000-4000-8000-000000000000"  # a well-formed id that no row has
DROP = "x'); DROP TABLE users; --"
OR_TRUE = "' OR 1=1 --"
NON_UTF8 = b"\xff\xfe"
NUL = "a\x00b"
# How non-UTF-8 bytes arrive in Python strings (argv, file names): lone surrogates.
SURROGATES = os.fsdecode(NON_UTF8)
HUGE = 10**30
INT64_OVERFLOW = 2**63

# Marks for cases that exposed bugs, kept so the cases stay labelled; all fixed now.
NUL_BUG: list[pytest.MarkDecorator] = []


def bug(reason: str) -> list[pytest.MarkDecorator]:
    return []


# -- helpers ----------------------------------------------------------------------------------


async def assert_healthy(db: Database) -> None:
    """No connection left checked out, and a normal query still succeeds."""
    assert db.pool_status()["checked_out"] == 0
    async with db.read_session() as session:
        assert await session.scalar(select(User.id).order_by(User.email).limit(1)) is not None
    assert db.pool_status()["checked_out"] == 0


def assert_names(error: BaseException, field: str | None) -> None:
    """A ValidationError whose ``field`` (and message) name ``field``."""
    assert isinstance(error, ValidationError), f"{type(error).__name__}: {error}"
    assert isinstance(error, GalleryAnalyticsError)
    if field is not None:
        assert error.field == field or error.field.startswith(f"{field}."), error.field
        assert str(error).startswith(f"{error.field}: ")
    assert "\n" not in str(error)


async def rejected(
    db: Database,
    call: Callable[[], Awaitable[object]],
    field: str | None,
    *,
    kind: type[BaseException] = ValidationError,
    check_writes: bool = False,
) -> BaseException:
    """Await ``call``, expect ``kind`` (naming ``field`` if a ValidationError), then check
    that nothing was written (``check_writes``) and that ``db`` is still healthy."""
    before = await table_checksums(db) if check_writes else None
    with pytest.raises(GalleryAnalyticsError) as caught:
        await call()
    assert isinstance(caught.value, kind), f"{type(caught.value).__name__}: {caught.value}"
    if kind is ValidationError:
        assert_names(caught.value, field)
    if before is not None:
        assert await table_checksums(db) == before
    await assert_healthy(db)
    return caught.value


@dataclass(frozen=True)
class Known:
    user_id: str
    exhibition_day: dt.date


@pytest.fixture(scope="module")
async def known(seeded_db: Database) -> Known:
    """Ids and values that exist in the small demo dataset."""
    async with seeded_db.read_session() as session:
        user_id = await session.scalar(select(User.id).order_by(User.email).limit(1))
        day = await session.scalar(select(Exhibition.starts_on).limit(1))
    return Known(user_id=str(user_id), exhibition_day=day)


# -- malformed values shared by several entry points ------------------------------------------

BAD_IDS = [
    pytest.param(None, id="none"),
    pytest.param(123, id="int"),
    pytest.param(HUGE, id="10**30"),
    pytest.param(INT64_OVERFLOW, id="2**63"),
    pytest.param(1.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param(NON_UTF8, id="non-utf8-bytes"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("not-a-uuid", id="not-a-uuid"),
    pytest.param(DROP, id="sql-drop"),
    pytest.param(OR_TRUE, id="sql-or-true"),
    pytest.param(NUL, id="nul"),
    pytest.param(NIL + "\x00", id="uuid-then-nul"),
    pytest.param(SURROGATES, id="surrogates"),
    pytest.param("x" * 10_000, id="10k-chars"),
    pytest.param([NIL], id="list"),
    pytest.param({"id": NIL}, id="dict"),
]
SOME_BAD_IDS = [
    p for p in BAD_IDS if p.id in {"none", "int", "non-utf8-bytes", "empty", "sql-drop", "nul"}
]
BAD_LIMITS = [
    pytest.param(0, id="zero"),
    pytest.param(-1, id="negative"),
    pytest.param(100_001, id="over-max"),
    pytest.param(HUGE, id="10**30"),
    pytest.param(INT64_OVERFLOW, id="2**63"),
    pytest.param("10", id="str"),
    pytest.param(1.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param(DROP, id="sql-drop"),
]
BAD_DAYS = [
    pytest.param("2024-01-01", id="iso-str"),
    pytest.param(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), id="datetime"),
    pytest.param(20240101, id="int"),
    pytest.param(HUGE, id="10**30"),
    pytest.param(NON_UTF8, id="non-utf8-bytes"),
    pytest.param(DROP, id="sql-drop"),
    pytest.param(None, id="none"),
]

# -- CatalogService: reads --------------------------------------------------------------------

GETTERS = [
    pytest.param("get_user", "user_id", id="get_user"),
    pytest.param("get_artist", "artist_id", id="get_artist"),
    pytest.param("get_artwork", "artwork_id", id="get_artwork"),
    pytest.param("get_exhibition", "exhibition_id", id="get_exhibition"),
]
GETTER_NAMES = ["get_user", "get_artist", "get_artwork", "get_exhibition"]
USER_LISTS = ["list_artists", "list_artworks", "list_exhibitions"]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(("method", "field"), GETTERS)
async def test_get_rejects_malformed_ids(
    seeded_db: Database, method: str, field: str, bad: object
) -> None:
    service = CatalogService(seeded_db)
    await rejected(seeded_db, lambda: getattr(service, method)(bad), field)


@pytest.mark.parametrize("method", GETTER_NAMES)
async def test_get_unknown_id_is_not_found(seeded_db: Database, method: str) -> None:
    service = CatalogService(seeded_db)
    error = await rejected(
        seeded_db, lambda: getattr(service, method)(NIL), None, kind=NotFoundError
    )
    assert NIL in str(error)


@pytest.mark.parametrize("bad", SOME_BAD_IDS)
@pytest.mark.parametrize("method", USER_LISTS)
async def test_lists_reject_malformed_user_ids(
    seeded_db: Database, method: str, bad: object
) -> None:
    service = CatalogService(seeded_db)
    await rejected(seeded_db, lambda: getattr(service, method)(user_id=bad), "user_id")


@pytest.mark.parametrize("method", USER_LISTS)
async def test_lists_of_an_unknown_user_are_not_found(seeded_db: Database, method: str) -> None:
    service = CatalogService(seeded_db)
    await rejected(
        seeded_db, lambda: getattr(service, method)(user_id=NIL), None, kind=NotFoundError
    )


@pytest.mark.parametrize("bad", BAD_LIMITS)
@pytest.mark.parametrize("method", ["list_users", *USER_LISTS])
async def test_lists_reject_bad_limits(
    seeded_db: Database, known: Known, method: str, bad: object
) -> None:
    service = CatalogService(seeded_db)
    by_user = {} if method == "list_users" else {"user_id": known.user_id}
    await rejected(seeded_db, lambda: getattr(service, method)(limit=bad, **by_user), "limit")


@pytest.mark.parametrize("bad", BAD_DAYS)
async def test_find_active_exhibitions_rejects_bad_days(seeded_db: Database, bad: object) -> None:
    service = CatalogService(seeded_db)
    await rejected(seeded_db, lambda: service.find_active_exhibitions(on=bad), "on")


@pytest.mark.parametrize("bad", [p for p in SOME_BAD_IDS if p.id != "none"])  # None: any
async def test_find_active_exhibitions_rejects_bad_curators(
    seeded_db: Database, known: Known, bad: object
) -> None:
    service = CatalogService(seeded_db)
    await rejected(
        seeded_db,
        lambda: service.find_active_exhibitions(on=known.exhibition_day, user_id=bad),
        "user_id",
    )


# -- CatalogService: writes (each case on its own fresh database) ------------------------------

ARTIST = {"name": "Bad Input Artist"}
ARTWORK = {"title": "Bad Input Study"}
SHOW = {
    "title": "Bad Input Show",
    "venue": "Hall",
    "city": "Ghent",
    "starts_on": "2025-05-01",
    "ends_on": "2025-05-31",
}


def _user(**changes: object) -> dict[str, object]:
    return {
        "method": "create_user",
        "email": "new.user@example.org",
        "display_name": "New",
    } | changes


def _artist(artist: object = None, **changes: object) -> dict[str, object]:
    return {"method": "create_artist", "owner_id": "<user>", "artist": artist} | changes


def _show(exhibition: object = None, **changes: object) -> dict[str, object]:
    show = {"method": "create_exhibition", "curator_id": "<user>", "exhibition": exhibition}
    return show | changes


def _pair(artist: object = ARTIST, artwork: object = ARTWORK, **changes: object) -> dict[str, Any]:
    return {
        "method": "create_artist_with_artwork",
        "owner_id": "<user>",
        "artist": artist,
        "artwork": artwork,
    } | changes


NAIVE = dt.datetime(2024, 5, 1, 12, 0)
CREATE_CASES = [
    # create_user
    pytest.param(_user(email=""), "email", id="user-email-empty"),
    pytest.param(_user(email="no-at-sign"), "email", id="user-email-no-at"),
    pytest.param(_user(email=DROP), "email", id="user-email-sql-drop"),
    pytest.param(_user(email=None), "email", id="user-email-none"),
    pytest.param(_user(email=NON_UTF8), "email", id="user-email-non-utf8"),
    pytest.param(_user(email="a@" + "b" * 400), "email", id="user-email-too-long"),
    pytest.param(_user(email="a\x00@b.org"), "email", id="user-email-nul", marks=NUL_BUG),
    pytest.param(_user(display_name=""), "display_name", id="user-name-empty"),
    pytest.param(_user(display_name=" \t "), "display_name", id="user-name-blank"),
    pytest.param(_user(display_name="x" * 301), "display_name", id="user-name-too-long"),
    pytest.param(_user(display_name=INT64_OVERFLOW), "display_name", id="user-name-2**63"),
    pytest.param(_user(display_name=NON_UTF8), "display_name", id="user-name-non-utf8"),
    pytest.param(_user(display_name=SURROGATES), "display_name", id="user-name-surrogates"),
    pytest.param(_user(display_name=NUL), "display_name", id="user-name-nul", marks=NUL_BUG),
    # create_artist
    pytest.param(_artist(ARTIST, owner_id=DROP), "owner_id", id="artist-owner-sql-drop"),
    pytest.param(_artist(ARTIST, owner_id=123), "owner_id", id="artist-owner-int"),
    pytest.param(_artist(ARTIST, owner_id=NUL), "owner_id", id="artist-owner-nul"),
    pytest.param(_artist("Ada"), "artist", id="artist-str"),
    pytest.param(_artist(None), "artist", id="artist-none"),
    pytest.param(_artist([("name", "Ada")]), "artist", id="artist-list"),
    pytest.param(_artist({}), "artist.name", id="artist-missing-name"),
    pytest.param(_artist({"name": ""}), "artist.name", id="artist-name-empty"),
    pytest.param(
        _artist({"name": "A", "birth_year": HUGE}), "artist.birth_year", id="artist-born-10**30"
    ),
    pytest.param(
        _artist({"name": "A", "birth_year": INT64_OVERFLOW}),
        "artist.birth_year",
        id="artist-born-2**63",
    ),
    pytest.param(
        _artist({"name": "A", "birth_year": 1990, "death_year": 1950}),
        "artist.death_year",
        id="artist-dies-before-birth",
    ),
    pytest.param(_artist({"name": "A", "id": NIL}), "artist.id", id="artist-own-id"),
    pytest.param(
        _artist({"name": "A", "owner_id": NIL}), "artist.owner_id", id="artist-smuggled-owner"
    ),
    pytest.param(_artist({"name": NUL}), "artist.name", id="artist-name-nul", marks=NUL_BUG),
    pytest.param(
        _artist({"name": "A", "nationality": "Dutch\x00"}),
        "artist.nationality",
        id="artist-nationality-nul",
        marks=NUL_BUG,
    ),
    # create_exhibition
    pytest.param(_show(SHOW, curator_id=OR_TRUE), "curator_id", id="show-curator-sql-or-true"),
    pytest.param(_show([SHOW]), "exhibition", id="show-list"),
    pytest.param(_show(SHOW | {"ends_on": "2025-04-01"}), "exhibition.ends_on", id="show-reversed"),
    pytest.param(
        _show(SHOW | {"starts_on": "2025-02-30"}), "exhibition.starts_on", id="show-feb-30"
    ),
    pytest.param(_show(SHOW | {"starts_on": HUGE}), "exhibition.starts_on", id="show-start-10**30"),
    pytest.param(
        _show(SHOW | {"starts_on": DROP}), "exhibition.starts_on", id="show-start-sql-drop"
    ),
    pytest.param(_show(SHOW | {"title": ""}), "exhibition.title", id="show-title-empty"),
    pytest.param(
        _show({k: v for k, v in SHOW.items() if k != "venue"}),
        "exhibition.venue",
        id="show-missing-venue",
    ),
    pytest.param(
        _show(SHOW | {"title": NUL}), "exhibition.title", id="show-title-nul", marks=NUL_BUG
    ),
    # create_artist_with_artwork
    pytest.param(_pair(owner_id=NON_UTF8), "owner_id", id="pair-owner-non-utf8"),
    pytest.param(_pair(artist={"name": "   "}), "artist.name", id="pair-artist-blank"),
    pytest.param(_pair(artwork=42), "artwork", id="pair-artwork-int"),
    pytest.param(
        _pair(artwork=ARTWORK | {"status": "stolen"}), "artwork.status", id="pair-status-unknown"
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"list_price": HUGE}), "artwork.list_price", id="pair-price-10**30"
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"list_price": "NaN"}), "artwork.list_price", id="pair-price-nan"
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"width_cm": float("inf")}), "artwork.width_cm", id="pair-width-inf"
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"width_cm": INT64_OVERFLOW}),
        "artwork.width_cm",
        id="pair-width-2**63",
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"year_created": INT64_OVERFLOW}),
        "artwork.year_created",
        id="pair-year-2**63",
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"acquired_at": NAIVE}), "artwork.acquired_at", id="pair-naive"
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"acquired_at": DROP}),
        "artwork.acquired_at",
        id="pair-acquired-sql",
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"artist_id": NIL}), "artwork.artist_id", id="pair-smuggled-artist"
    ),
    pytest.param(
        _pair(artwork={"title": NUL}), "artwork.title", id="pair-artwork-title-nul", marks=NUL_BUG
    ),
    pytest.param(
        _pair(artwork=ARTWORK | {"medium": "Oil\x00"}),
        "artwork.medium",
        id="pair-artwork-medium-nul",
        marks=NUL_BUG,
    ),
]


@pytest.mark.parametrize(("case", "field"), CREATE_CASES)
async def test_create_rejects_bad_input_and_writes_nothing(
    fresh_db: Database, case: dict[str, Any], field: str
) -> None:
    async with fresh_db.read_session() as session:
        user_id = str(await session.scalar(select(User.id).order_by(User.email).limit(1)))
    arguments = {k: user_id if v == "<user>" else v for k, v in case.items() if k != "method"}
    method = getattr(CatalogService(fresh_db), case["method"])
    await rejected(fresh_db, lambda: method(**arguments), field, check_writes=True)


NUL_CREATE_CASES = [
    pytest.param(*p.values, id=p.id) for p in CREATE_CASES if p.id and p.id.endswith("-nul")
]


@pytest.mark.parametrize(("case", "field"), NUL_CREATE_CASES)
async def test_nul_in_text_is_a_project_error_and_leaves_nothing_behind(
    fresh_db: Database, case: dict[str, Any], field: str
) -> None:
    """What holds today despite the NUL bug above: a project error (not an asyncpg
    traceback), the whole transaction rolled back (for create_artist_with_artwork the
    artist row was already flushed when the artwork insert failed), the pool clean."""
    async with fresh_db.read_session() as session:
        user_id = str(await session.scalar(select(User.id).order_by(User.email).limit(1)))
    arguments = {k: user_id if v == "<user>" else v for k, v in case.items() if k != "method"}
    method = getattr(CatalogService(fresh_db), case["method"])
    await rejected(
        fresh_db, lambda: method(**arguments), field, kind=GalleryAnalyticsError, check_writes=True
    )


@pytest.mark.parametrize(
    "method", ["create_artist", "create_exhibition", "create_artist_with_artwork"]
)
async def test_create_for_an_unknown_user_is_not_found_and_writes_nothing(
    fresh_db: Database, method: str
) -> None:
    service = CatalogService(fresh_db)
    calls = {
        "create_artist": lambda: service.create_artist(owner_id=NIL, artist=ARTIST),
        "create_exhibition": lambda: service.create_exhibition(curator_id=NIL, exhibition=SHOW),
        "create_artist_with_artwork": lambda: service.create_artist_with_artwork(
            owner_id=NIL, artist=ARTIST, artwork=ARTWORK
        ),
    }
    await rejected(fresh_db, calls[method], None, kind=NotFoundError, check_writes=True)


@pytest.mark.parametrize("value", [DROP, OR_TRUE, "Robert'); DROP TABLE artists;--"])
async def test_sql_injection_text_is_stored_verbatim(fresh_db: Database, value: str) -> None:
    """Injection strings are legitimate text: stored as given, nothing else touched."""
    before = await table_checksums(fresh_db)
    service = CatalogService(fresh_db)
    user = await service.create_user(email="bobby.tables@example.org", display_name=value)
    artist = await service.create_artist(owner_id=user.id, artist={"name": value})
    assert (await service.get_user(user.id)).display_name == value
    assert (await service.get_artist(artist.id)).name == value
    after = await table_checksums(fresh_db)
    assert {t for t in before if before[t] != after[t]} == {"users", "artists"}
    assert await count_rows(fresh_db, "users", "display_name = :v", v=value) == 1
    await assert_healthy(fresh_db)


# -- DashboardService -------------------------------------------------------------------------

FILTER_CASES = [
    pytest.param({"start": "not a date"}, "start", id="start-text"),
    pytest.param({"start": "2024-02-30"}, "start", id="start-feb-30"),
    pytest.param({"start": HUGE}, "start", id="start-10**30"),
    pytest.param({"start": INT64_OVERFLOW}, "start", id="start-2**63"),
    pytest.param({"start": dt.datetime(2024, 1, 1)}, "start", id="start-datetime"),
    pytest.param({"start": NON_UTF8}, "start", id="start-non-utf8"),
    pytest.param({"start": DROP}, "start", id="start-sql-drop"),
    pytest.param({"start": "2024-06-30", "end": "2024-01-01"}, "end", id="reversed-range"),
    pytest.param({"end": ""}, "end", id="end-empty"),
    pytest.param({"mediums": [""]}, "mediums", id="mediums-empty-name"),
    pytest.param({"mediums": ["   "]}, "mediums", id="mediums-blank-name"),
    pytest.param({"mediums": 123}, "mediums", id="mediums-int"),
    pytest.param({"mediums": [NON_UTF8]}, "mediums", id="mediums-non-utf8"),
    pytest.param({"mediums": [SURROGATES]}, "mediums", id="mediums-surrogates"),
    pytest.param({"mediums": ["x" * 301]}, "mediums", id="mediums-too-long"),
    pytest.param({"mediums": ["Print"] * 101}, "mediums", id="mediums-too-many"),
    pytest.param({"mediums": [DROP]}, "mediums", id="mediums-sql-drop"),
    pytest.param({"mediums": ["Print", OR_TRUE]}, "mediums", id="mediums-sql-or-true"),
    pytest.param({"mediums": ["Print\x00"]}, "mediums", id="mediums-nul", marks=NUL_BUG),
    pytest.param({"status": "stolen"}, "status", id="status-unknown"),
    pytest.param({"status": "SOLD"}, "status", id="status-upper"),
    pytest.param({"status": 1}, "status", id="status-int"),
    pytest.param({"status": DROP}, "status", id="status-sql-drop"),
    pytest.param({"user_id": ""}, "user_id", id="user-empty"),
    pytest.param({"user_id": OR_TRUE}, "user_id", id="user-sql-or-true"),
    pytest.param({"user_id": HUGE}, "user_id", id="user-10**30"),
    pytest.param({"user_id": NUL}, "user_id", id="user-nul"),
    pytest.param({"user_id": NIL}, "user_id", id="user-unknown"),
    pytest.param({"currency": "eur"}, "currency", id="currency-lower"),
    pytest.param({"currency": "EURO"}, "currency", id="currency-four"),
    pytest.param({"currency": "EUR\n"}, "currency", id="currency-newline"),
    pytest.param({"currency": ""}, "currency", id="currency-empty"),
    pytest.param({"currency": None}, "currency", id="currency-none"),
    pytest.param({"currency": "EU'"}, "currency", id="currency-quote"),
    pytest.param({"top_n": 0}, "top_n", id="top-n-zero"),
    pytest.param({"top_n": 101}, "top_n", id="top-n-101"),
    pytest.param({"top_n": HUGE}, "top_n", id="top-n-10**30"),
    pytest.param({"top_n": INT64_OVERFLOW}, "top_n", id="top-n-2**63"),
    pytest.param({"top_n": -(2**63)}, "top_n", id="top-n-min-int64"),
    pytest.param({"top_n": "ten"}, "top_n", id="top-n-text"),
    pytest.param({"top_n": 1.5}, "top_n", id="top-n-fraction"),
    pytest.param({"top_n": float("nan")}, "top_n", id="top-n-nan"),
    pytest.param({"colour": "red"}, "colour", id="unknown-key"),
    pytest.param({"start; DROP TABLE users": 1}, "start; DROP TABLE users", id="unknown-key-sql"),
    pytest.param("start=2024-01-01", "filters", id="filters-str"),
    pytest.param(["start"], "filters", id="filters-list"),
    pytest.param(42, "filters", id="filters-int"),
]


@pytest.mark.parametrize(("filters", "field"), FILTER_CASES)
@pytest.mark.parametrize("entry", ["check_filters", "get_gallery_overview"])
async def test_overview_filters_are_rejected(
    seeded_db: Database, entry: str, filters: object, field: str
) -> None:
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: getattr(service, entry)(filters), field)


PANEL_CASES = [
    pytest.param(["nope"], id="unknown"),
    pytest.param("key_figures", id="bare-str"),
    pytest.param([], id="empty"),
    pytest.param(["key_figures", "key_figures"], id="duplicate"),
    pytest.param([1], id="int-item"),
    pytest.param([None], id="none-item"),
    pytest.param([DROP], id="sql-drop"),
    pytest.param(
        5,
        id="int",
        marks=bug(
            "get_gallery_overview(panels=5) raises TypeError ('int' object is not iterable): "
            "services/dashboard.py _resolve_panels iterates without checking for a sequence"
        ),
    ),
]


@pytest.mark.parametrize("panels", PANEL_CASES)
async def test_overview_rejects_bad_panels(seeded_db: Database, panels: object) -> None:
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: service.get_gallery_overview(panels=panels), "panels")


TIMEOUT_CASES = [
    pytest.param({"key_figures": 0}, "timeouts.key_figures", id="zero"),
    pytest.param({"key_figures": -1}, "timeouts.key_figures", id="negative"),
    pytest.param({"key_figures": HUGE}, "timeouts.key_figures", id="10**30"),
    pytest.param({"key_figures": "1"}, "timeouts.key_figures", id="str"),
    pytest.param({"key_figures": float("nan")}, "timeouts.key_figures", id="nan"),
    pytest.param({"key_figures": True}, "timeouts.key_figures", id="bool"),
    pytest.param({"key_figures": None}, "timeouts.key_figures", id="none"),
    pytest.param(
        [1],
        "timeouts",
        id="list",
        marks=bug(
            "get_gallery_overview(timeouts=[1]) raises AttributeError ('list' object has no "
            "attribute 'get'): services/dashboard.py uses (timeouts or {}).get without "
            "checking for a Mapping"
        ),
    ),
    pytest.param(
        "key_figures=1",
        "timeouts",
        id="str-not-mapping",
        marks=bug(
            "get_gallery_overview(timeouts='key_figures=1') raises AttributeError ('str' "
            "object has no attribute 'get'), same place"
        ),
    ),
]


@pytest.mark.parametrize(("timeouts", "field"), TIMEOUT_CASES)
async def test_overview_rejects_bad_timeouts(
    seeded_db: Database, timeouts: object, field: str
) -> None:
    service = DashboardService(seeded_db)
    await rejected(
        seeded_db,
        lambda: service.get_gallery_overview(panels=["key_figures"], timeouts=timeouts),
        field,
    )


@pytest.mark.parametrize(
    "budget",
    [0, -1, HUGE, "5", float("nan"), float("inf"), True, NON_UTF8],
    ids=["zero", "negative", "10**30", "str", "nan", "inf", "bool", "bytes"],
)
async def test_dashboard_service_rejects_bad_panel_budgets(
    seeded_db: Database, budget: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        DashboardService(seeded_db, panel_timeout_seconds=budget)  # type: ignore[arg-type]
    assert_names(caught.value, "panel_timeout_seconds")
    await assert_healthy(seeded_db)


@pytest.mark.parametrize("bad", SOME_BAD_IDS)
async def test_user_dashboard_rejects_malformed_user_ids(seeded_db: Database, bad: object) -> None:
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: service.get_user_dashboard(bad), "user_id")


async def test_user_dashboard_of_an_unknown_user_is_not_found(seeded_db: Database) -> None:
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: service.get_user_dashboard(NIL), None, kind=NotFoundError)


@pytest.mark.parametrize("bad", [p for p in BAD_DAYS if p.id != "none"])
async def test_user_dashboard_rejects_bad_days(
    seeded_db: Database, known: Known, bad: object
) -> None:
    """The day is checked in one of four concurrent tasks: the others are cancelled and
    their connections returned."""
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: service.get_user_dashboard(known.user_id, on=bad), "on")


@pytest.mark.parametrize("bad", BAD_LIMITS)
async def test_user_dashboard_rejects_bad_limits(
    seeded_db: Database, known: Known, bad: object
) -> None:
    service = DashboardService(seeded_db)
    await rejected(seeded_db, lambda: service.get_user_dashboard(known.user_id, limit=bad), "limit")


# -- extract_frame ----------------------------------------------------------------------------

BY_NAME = "SELECT count(*) AS n FROM users WHERE display_name = :value"
EXTRACT_CASES = [
    pytest.param("", None, "query", id="query-empty"),
    pytest.param("   ", None, "query", id="query-blank"),
    pytest.param(123, None, "query", id="query-int"),
    pytest.param(None, None, "query", id="query-none"),
    pytest.param(b"SELECT 1", None, "query", id="query-bytes"),
    pytest.param("SELECT 1", [1], "params", id="params-list"),
    pytest.param("SELECT 1", "value=1", "params", id="params-str"),
    pytest.param("SELECT 1", {"nope": 1}, "params", id="params-unknown-name"),
    pytest.param("SELECT :value", None, "params", id="params-missing"),
    pytest.param(BY_NAME, {"value": NUL}, "params", id="params-nul", marks=NUL_BUG),
    pytest.param(
        BY_NAME,
        {"value": SURROGATES},
        "params",
        id="params-surrogates",
        marks=bug(
            "extract_frame with a str parameter holding lone surrogates (non-UTF-8 bytes "
            "decoded with surrogateescape) gives DatabaseError('the database rejected the "
            "statement: invalid input for query argument $1 ... surrogates not allowed "
            "(DataError)'): asyncpg failed to encode it client-side, the server never saw it, "
            "and the message names $1 rather than the 'value' parameter; "
            "frames/extract.py compile_query should reject unencodable text as a "
            "ValidationError('params', ...)"
        ),
    ),
]


@pytest.mark.parametrize(("query", "params", "field"), EXTRACT_CASES)
async def test_extract_frame_rejects_bad_queries_and_params(
    seeded_db: Database, query: object, params: object, field: str
) -> None:
    await rejected(seeded_db, lambda: extract_frame(seeded_db, query, params), field)  # type: ignore[arg-type]


# Values of the wrong type for what the server expects: only the server knows the type,
# so a DatabaseError (with the server's or the encoder's one-line message) is the answer.
MISTYPED_PARAMS = [
    pytest.param(BY_NAME, {"value": HUGE}, id="int-for-text-10**30"),
    pytest.param(BY_NAME, {"value": NON_UTF8}, id="bytes-for-text"),
    pytest.param(
        "SELECT CAST(:value AS bigint) AS v", {"value": INT64_OVERFLOW}, id="2**63-bigint"
    ),
    pytest.param("SELECT CAST(:value AS uuid) AS v", {"value": DROP}, id="sql-drop-for-uuid"),
    pytest.param("SELECT CAST(:value AS date) AS v", {"value": "2024-02-30"}, id="str-for-date"),
    pytest.param("SELECT CAST(:value AS int) AS v", {"value": OR_TRUE}, id="sql-or-true-for-int"),
    pytest.param("SELEC 1", None, id="syntax-error"),
    pytest.param("SELECT 1; DROP TABLE users", None, id="stacked-statements"),
    pytest.param("DROP TABLE users", None, id="ddl"),
]


@pytest.mark.parametrize(("query", "params"), MISTYPED_PARAMS)
async def test_extract_frame_mistyped_params_are_database_errors(
    fresh_db: Database, query: str, params: dict[str, object] | None
) -> None:
    error = await rejected(
        fresh_db,
        lambda: extract_frame(fresh_db, query, params),
        None,
        kind=DatabaseError,
        check_writes=True,
    )
    assert "\n" not in str(error)
    assert await count_rows(fresh_db, "users") > 0


async def test_extract_frame_cannot_write(fresh_db: Database) -> None:
    await rejected(
        fresh_db,
        lambda: extract_frame(fresh_db, "DELETE FROM users RETURNING id"),
        None,
        kind=ReadOnlyError,
        check_writes=True,
    )


@pytest.mark.parametrize("value", [DROP, OR_TRUE, "') TO PROGRAM 'touch /tmp/x'; --"])
async def test_extract_frame_params_are_never_sql(fresh_db: Database, value: str) -> None:
    """COPY cannot take parameters, so values are inlined: with the server's quoting."""
    before = await table_checksums(fresh_db)
    frame = await extract_frame(fresh_db, BY_NAME, {"value": value})
    assert frame["n"].tolist() == [0]
    echoed = await extract_frame(fresh_db, "SELECT CAST(:value AS text) AS v", {"value": value})
    assert echoed["v"].tolist() == [value]
    assert await table_checksums(fresh_db) == before
    await assert_healthy(fresh_db)


# -- reports.check_parameters -----------------------------------------------------------------

TYPE_BUG = (
    "reports.check_parameters assumes every value is a str: {value} raises {error} instead "
    "of a ValidationError naming '{field}' (reports._date calls dt.date.fromisoformat on "
    "any object; the medium is .split(',') unchecked)"
)
REPORT_CASES = [
    pytest.param({"start": "bad"}, "start", id="start-text"),
    pytest.param({"start": "2024-02-30"}, "start", id="start-feb-30"),
    pytest.param({"start": "99999-01-01"}, "start", id="start-five-digit-year"),
    pytest.param({"start": "2024-01-01\x00"}, "start", id="start-nul"),
    pytest.param({"start": SURROGATES}, "start", id="start-surrogates"),
    pytest.param({"end": DROP}, "end", id="end-sql-drop"),
    pytest.param({"start": "2024-06-30", "end": "2024-01-01"}, "end", id="reversed-range"),
    pytest.param({"user_id": OR_TRUE}, "user_id", id="user-sql-or-true"),
    pytest.param({"user_id": NUL}, "user_id", id="user-nul"),
    pytest.param({"user_id": NIL}, "user_id", id="user-unknown"),
    pytest.param({"user_id": 123}, "user_id", id="user-int"),
    pytest.param({"medium": DROP}, "mediums", id="medium-sql-drop"),
    pytest.param({"medium": f"Print,{OR_TRUE}"}, "mediums", id="medium-sql-or-true"),
    pytest.param({"medium": SURROGATES}, "mediums", id="medium-surrogates"),
    pytest.param({"medium": "x" * 301}, "mediums", id="medium-too-long"),
    pytest.param({"medium": "Print\x00"}, "mediums", id="medium-nul", marks=NUL_BUG),
    pytest.param(
        {"start": 20240101},
        "start",
        id="start-int",
        marks=bug(TYPE_BUG.format(value="start=20240101", error="TypeError", field="start")),
    ),
    pytest.param(
        {"end": NON_UTF8},
        "end",
        id="end-bytes",
        marks=bug(TYPE_BUG.format(value="end=b'\\xff\\xfe'", error="TypeError", field="end")),
    ),
    pytest.param(
        {"medium": 5},
        "medium",
        id="medium-int",
        marks=bug(TYPE_BUG.format(value="medium=5", error="AttributeError", field="medium")),
    ),
    pytest.param(
        {"medium": ["Print"]},
        "medium",
        id="medium-list",
        marks=bug(
            TYPE_BUG.format(value="medium=['Print']", error="AttributeError", field="medium")
        ),
    ),
    pytest.param(
        None,
        None,
        id="raw-none",
        marks=bug(
            "reports.check_parameters(db, None) raises AttributeError ('NoneType' object has "
            "no attribute 'get'): the raw parameters are not checked to be a Mapping"
        ),
    ),
    pytest.param(
        ["start=2024-01-01"],
        None,
        id="raw-list",
        marks=bug(
            "reports.check_parameters(db, ['start=2024-01-01']) raises AttributeError ('list' "
            "object has no attribute 'get'): the raw parameters are not checked to be a Mapping"
        ),
    ),
]


@pytest.mark.parametrize(("raw", "field"), REPORT_CASES)
async def test_check_parameters_rejects_bad_input(
    seeded_db: Database, raw: object, field: str | None
) -> None:
    await rejected(seeded_db, lambda: check_parameters(seeded_db, raw), field)  # type: ignore[arg-type]


# -- the CLI ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def cli_db(server_url: URL, template_database: str) -> AsyncIterator[Database]:
    """One writable copy of the demo data that every CLI case points at."""
    async for db in _clone(server_url, template_database, "gallery_cli"):
        yield db


def assert_cli_error(returncode: object, stderr: str, field: str) -> None:
    """Exit code 2 and exactly one ``error:`` line naming ``field``."""
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if "error: " in line]
    assert len(errors) == 1, stderr
    assert lines == errors, stderr
    if field.startswith("--"):  # a usage error, reported by Typer for the option
        assert errors[0].startswith(f"error: Invalid value for '{field}': "), stderr
    else:  # the library's ValidationError
        assert errors[0].startswith(f"error: {field}"), stderr


CLI_CASES = [
    pytest.param(["seed", "--size", "huge"], "--size", id="seed-size-unknown"),
    pytest.param(["seed", "--size", ""], "--size", id="seed-size-empty"),
    pytest.param(["seed", "--size", "small; DROP TABLE users"], "--size", id="seed-size-sql"),
    pytest.param(["seed", "--seed", "-1"], "--seed", id="seed-negative"),
    pytest.param(["seed", "--seed", str(HUGE)], "--seed", id="seed-10**30"),
    pytest.param(["seed", "--seed", str(INT64_OVERFLOW)], "--seed", id="seed-2**63"),
    pytest.param(["seed", "--seed", "1.5"], "--seed", id="seed-fraction"),
    pytest.param(["seed", "--seed", ""], "--seed", id="seed-empty"),
    pytest.param(["seed", "--seed", DROP], "--seed", id="seed-sql-drop"),
    pytest.param(["seed", "--seed", SURROGATES], "--seed", id="seed-non-utf8"),
    pytest.param(["seed", "--seed", "9" * 5000], "--seed", id="seed-5000-digits"),
    pytest.param(["summary", "--on", "2024-02-30"], "--on", id="summary-feb-30"),
    pytest.param(["summary", "--on", ""], "--on", id="summary-empty"),
    pytest.param(["summary", "--on", OR_TRUE], "--on", id="summary-sql-or-true"),
    pytest.param(["summary", "--on", "2024-01-01T00:00:00"], "--on", id="summary-datetime"),
    pytest.param(["summary", "--on", SURROGATES], "--on", id="summary-non-utf8"),
    pytest.param(["report", "--param", "start=bad"], "start", id="report-start-text"),
    pytest.param(["report", "--param", "end=2024-13-01"], "end", id="report-end-month-13"),
    pytest.param(["report", "--param", "nokey"], "param", id="report-no-equals"),
    pytest.param(["report", "--param", "=2024-01-01"], "param", id="report-no-name"),
    pytest.param(["report", "--param", "colour=red"], "colour", id="report-unknown-name"),
    pytest.param(
        ["report", "--param", "start=2024-06-30", "--param", "end=2024-01-01"],
        "end",
        id="report-reversed-range",
    ),
    pytest.param(
        ["report", "--param", "medium=Print", "--param", "medium=Print"],
        "medium",
        id="report-duplicate",
    ),
    pytest.param(["report", "--param", f"user_id={OR_TRUE}"], "user_id", id="report-user-sql"),
    pytest.param(["report", "--param", f"user_id={NIL}"], "user_id", id="report-user-unknown"),
    pytest.param(["report", "--param", f"medium={DROP}"], "mediums", id="report-medium-sql"),
    pytest.param(["report", "--param", f"start={SURROGATES}"], "start", id="report-start-non-utf8"),
    pytest.param(
        ["report", "--param", f"medium={SURROGATES}"], "mediums", id="report-medium-non-utf8"
    ),
    # (an unknown *name* with non-UTF-8 bytes is echoed raw: a real stderr escapes it, while
    # capsys would refuse to encode it, so that case runs as a subprocess only, below)
    pytest.param(["report", "--out", "<tmp>/report.txt"], "out", id="report-out-not-html"),
    pytest.param(
        ["report", "--notebook", "<tmp>/missing.ipynb"], "notebook", id="report-no-notebook"
    ),
]


def _call_main(argv: list[str]) -> object:
    return main(argv)  # an exit code, usage errors included (no SystemExit)


@pytest.mark.parametrize(("argv", "field"), CLI_CASES)
async def test_cli_rejects_bad_arguments(
    cli_db: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    field: str,
) -> None:
    """``main()`` in this process (a worker thread runs its event loop): the whole matrix."""
    for name in [name for name in os.environ if name.startswith("GALLERY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GALLERY_DATABASE_URL", cli_db.url.render_as_string(hide_password=False))
    monkeypatch.setenv(
        "GALLERY_READ_DATABASE_URL", cli_db.read_url.render_as_string(hide_password=False)
    )
    argv = [arg.replace("<tmp>", str(tmp_path)) for arg in argv]
    if argv[0] == "report" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "report.html")]
    before = await table_checksums(cli_db)
    capsys.readouterr()

    returncode = await asyncio.to_thread(_call_main, argv)

    captured = capsys.readouterr()
    assert_cli_error(returncode, captured.err, field)
    assert captured.out == ""
    assert await asyncio.to_thread(os.listdir, tmp_path) == []  # no report, no notebook
    assert await table_checksums(cli_db) == before
    await assert_healthy(cli_db)


# The same contract through a real subprocess, for a few cases (each costs ~2 s of CPU,
# mostly imports); they run concurrently, once, in a module fixture.
SUBPROCESS_CASES = {
    "seed-size-sql": (["seed", "--size", "small; DROP TABLE users"], "--size"),
    "seed-2**63": (["seed", "--seed", str(INT64_OVERFLOW)], "--seed"),
    "summary-non-utf8": (["summary", "--on", SURROGATES], "--on"),
    "report-reversed-range": (
        ["report", "--param", "start=2024-06-30", "--param", "end=2024-01-01"],
        "end",
    ),
    "report-medium-sql": (["report", "--param", f"medium={DROP}"], "mediums"),
    # echoed as Python's stderr writes undecodable bytes: backslash escapes
    "report-name-non-utf8": (["report", "--param", f"{SURROGATES}=1"], r"\udcff\udcfe"),
}


@dataclass(frozen=True)
class SubprocessRuns:
    results: dict[str, Any]
    workdirs: dict[str, Path]
    before: dict[str, str]
    after: dict[str, str]


@pytest.fixture(scope="module")
async def subprocess_runs(
    cli_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> SubprocessRuns:
    before = await table_checksums(cli_db)
    workdirs = {name: tmp_path_factory.mktemp("cli") for name in SUBPROCESS_CASES}
    slots = asyncio.Semaphore(os.cpu_count() or 2)

    async def run(name: str) -> Any:
        async with slots:
            return await asyncio.to_thread(
                run_cli,
                *SUBPROCESS_CASES[name][0],
                database_url=cli_db.url,
                cwd=workdirs[name],
                timeout=120,
            )

    outcomes = await asyncio.gather(*(run(name) for name in SUBPROCESS_CASES))
    return SubprocessRuns(
        results=dict(zip(SUBPROCESS_CASES, outcomes, strict=True)),
        workdirs=workdirs,
        before=before,
        after=await table_checksums(cli_db),
    )


@pytest.mark.parametrize("name", list(SUBPROCESS_CASES))
async def test_cli_subprocess_rejects_bad_arguments(
    cli_db: Database, subprocess_runs: SubprocessRuns, name: str
) -> None:
    result = subprocess_runs.results[name]
    assert_cli_error(result.returncode, result.stderr, SUBPROCESS_CASES[name][1])
    assert result.stdout == ""
    assert await asyncio.to_thread(os.listdir, subprocess_runs.workdirs[name]) == []
    assert subprocess_runs.after == subprocess_runs.before
    await assert_healthy(cli_db)


async def test_nul_cannot_reach_the_cli() -> None:
    """A NUL cannot be passed in argv at all: the OS (and subprocess) refuse it, so the
    CLI never sees one; the library entry points above are where NUL is tested."""
    with pytest.raises(ValueError, match="null byte"):
        run_cli("report", "--param", "medium=Print\x00")


# -- extreme dates, at every entry point that takes a date ------------------------------------

# The edges of what Python's date can hold, and dates around them. A date is either
# answered (every panel computed) or refused with a ValidationError naming the field;
# never an OverflowError from ``end + 1 day`` or a driver error.
EXTREME_DATES = [
    dt.date.min,
    dt.date.min + dt.timedelta(days=1),
    dt.date(1582, 10, 10),  # a day the Gregorian reform skipped; proleptic in both
    dt.date(9999, 12, 30),
    dt.date.max,
]
EXTREME_IDS = [d.isoformat() for d in EXTREME_DATES]


def _answered_or_refused(outcome: object | BaseException, fields: tuple[str, ...]) -> None:
    if isinstance(outcome, BaseException):
        assert_names(outcome, None)
        assert isinstance(outcome, ValidationError)
        assert outcome.field in fields, outcome.field
        assert "9999-12-30" in str(outcome)  # says what would do


async def _outcome(call: Callable[[], Awaitable[object]]) -> object | BaseException:
    try:
        return await call()
    except GalleryAnalyticsError as exc:  # anything else fails the test
        return exc


@pytest.mark.parametrize("field", ["start", "end"])
@pytest.mark.parametrize("day", EXTREME_DATES, ids=EXTREME_IDS)
async def test_overview_with_extreme_dates_answers_or_names_the_field(
    seeded_db: Database, field: str, day: dt.date
) -> None:
    other = {"start": dt.date.min, "end": dt.date(9999, 12, 30)}
    filters = {**other, field: day}
    if filters["end"] < filters["start"]:
        filters["start"] = filters["end"]
    service = DashboardService(seeded_db)
    for call in (
        lambda: service.get_gallery_overview(filters),
        lambda: service.get_gallery_overview({field: day}),
        lambda: service.check_filters({field: day}),
    ):
        outcome = await _outcome(call)
        _answered_or_refused(outcome, ("start", "end"))
        if not isinstance(outcome, BaseException) and hasattr(outcome, "failed"):
            assert outcome.failed == [], [p.error for p in outcome.failed]
    await assert_healthy(seeded_db)


@pytest.mark.parametrize("day", EXTREME_DATES, ids=EXTREME_IDS)
async def test_report_parameters_with_extreme_dates_answer_or_name_the_field(
    seeded_db: Database, day: dt.date
) -> None:
    for raw in (
        {"start": day.isoformat(), "end": "9999-12-30"},
        {"start": "0001-01-01", "end": day.isoformat()},
    ):
        outcome = await _outcome(lambda raw=raw: check_parameters(seeded_db, raw))
        _answered_or_refused(outcome, ("start", "end"))


@pytest.mark.parametrize("day", EXTREME_DATES, ids=EXTREME_IDS)
async def test_single_day_entry_points_take_extreme_dates(
    seeded_db: Database, known: Known, day: dt.date
) -> None:
    """``on`` is compared as a date, never shifted: every representable day is answered."""
    from gallery_analytics.services.summary import SummaryService

    summary = await SummaryService(seeded_db).get_summary(on=day)
    assert summary.on == day
    assert isinstance(await CatalogService(seeded_db).find_active_exhibitions(on=day), list)
    dashboard = await DashboardService(seeded_db).get_user_dashboard(known.user_id, on=day)
    assert dashboard.on == day
    await assert_healthy(seeded_db)


def test_cli_report_with_the_widest_range_is_one_line(cli_db: Database, tmp_path: Path) -> None:
    """The reproduction of issue 10 #13: 6 of 7 panels failed with OverflowError."""
    out = tmp_path / "wide.html"
    result = run_cli(
        "report",
        "--out",
        str(out),
        "--no-progress",
        "--param",
        "start=0001-01-01",
        "--param",
        "end=9999-12-31",
        database_url=cli_db.url,
    )
    assert_cli_error(result.returncode, result.stderr, "end")
    assert "9999-12-30" in result.stderr
    assert not out.exists()
    assert not out.with_suffix(".ipynb").exists()


# -- the database is still fine after all of the above ----------------------------------------


async def test_seeded_database_is_intact_after_bad_input(seeded_db: Database) -> None:
    """Runs last in this module: no injection string dropped or changed anything."""
    async with seeded_db.read_session() as session:
        tables = set(
            await session.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        )
    assert {"users", "artists", "artworks", "exhibitions", "sales"} <= tables
    assert await count_rows(seeded_db, "users") > 0
    await assert_healthy(seeded_db)
