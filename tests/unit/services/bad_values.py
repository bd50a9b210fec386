"""Malformed inputs for every public entry point, shared by the unit suite (which proves
each is refused before any I/O) and the integration suite (which runs a sample against a
real PostgreSQL, checking nothing is written and the pool stays healthy).

Cases marked ``NUL_BUG``/``bug(...)`` exposed bugs when written; they are fixed, and the
marks (now empty) keep the reason next to the case.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest

from gallery_analytics.errors import GalleryAnalyticsError, ValidationError

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


def assert_names(error: BaseException, field: str | None) -> None:
    """A ValidationError whose ``field`` (and message) name ``field``."""
    assert isinstance(error, ValidationError), f"{type(error).__name__}: {error}"
    assert isinstance(error, GalleryAnalyticsError)
    if field is not None:
        assert error.field == field or error.field.startswith(f"{field}."), error.field
        assert str(error).startswith(f"{error.field}: ")
    assert "\n" not in str(error)


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


# -- CatalogService: writes ("<user>" stands for an existing user) ---------------------------

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


BAD_BUDGETS = [
    pytest.param(value, id=name)
    for value, name in zip(
        [0, -1, HUGE, "5", float("nan"), float("inf"), True, NON_UTF8],
        ["zero", "negative", "10**30", "str", "nan", "inf", "bool", "bytes"],
        strict=True,
    )
]


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


# -- cases that need the database, by id ------------------------------------------------------

# Well-formed but unknown: only the database can say no user has this id, no artwork has
# this medium.
FILTERS_NEEDING_THE_DATABASE = {"mediums-sql-drop", "mediums-sql-or-true", "user-unknown"}
# Report parameters only the database can refuse: well-formed, but no user has this id
# and no artwork this medium (everything malformed is refused before any I/O).
REPORT_CASES_AFTER_CONNECTING = {"user-unknown", "medium-sql-drop", "medium-sql-or-true"}


def only(cases: list[Any], ids: set[str]) -> list[Any]:
    """The cases whose id is in ``ids`` (every id must name a case)."""
    chosen = [case for case in cases if case.id in ids]
    assert {case.id for case in chosen} == ids, ids - {case.id for case in chosen}
    return chosen


def without(cases: list[Any], ids: set[str]) -> list[Any]:
    """The other cases."""
    only(cases, ids)  # every id names a case
    return [case for case in cases if case.id not in ids]
