"""A coroutine passed where a value belongs says "did you forget `await`?" and names the
field, at every public entry point that takes a value; the coroutine is closed, so no
"never awaited" RuntimeWarning follows. No database: every check runs before any SQL.

ENTRY_POINTS lists them all for the domain's value checks, the services (catalog,
dashboard, summary), frames, the import, the demo loader, the schema upgrade and check,
and the panel registry's lookup; the charts, the panels' drawing and the report
parameters are listed as their checks land.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import warnings
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from gallery_analytics import charts, panels
from gallery_analytics.db.connect import connect
from gallery_analytics.db.database import Database
from gallery_analytics.db.schema import check_schema, upgrade_schema
from gallery_analytics.demo.load import load_tables, resolve_size, seed_demo
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.values import (
    _CALENDAR_DATE,
    build,
    parse_id,
    require_date,
    require_date_in_range,
    validated,
)
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames import (
    extract_frame,
    extract_to_parquet,
    fetch_frame,
    iter_batches,
    to_frame,
)
from gallery_analytics.imports import import_collection
from gallery_analytics.reports import check_parameters
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.dtos import UserCreate
from gallery_analytics.services.summary import SummaryService
from gallery_analytics.sync import run_sync

ID = "123e4567-e89b-42d3-a456-426614174000"
HINT = "did you forget `await`?"


async def get_user_id() -> str:
    """Stands for any coroutine whose result was meant: a service call, ``connect()``."""
    return ID


def _db() -> Database:
    return Database("postgresql://nobody@127.0.0.1:1/nothing")  # never connected


def _catalog() -> CatalogService:
    return CatalogService(_db())


def _dashboard() -> DashboardService:
    return DashboardService(_db())


def _summary() -> SummaryService:
    return SummaryService(_db())


Entry = Callable[[Any], Any]

_URL = "postgresql://nobody@127.0.0.1:1/nothing"
# import_collection's required text and path arguments, each replaced by the coroutine in turn.
_IMPORT_ARGUMENTS: dict[str, Any] = {
    "artists_csv": Path("a.csv"),
    "artworks_csv": Path("b.csv"),
    "owner_email": "a@b.example",
    "source": "import",
}

# (entry point, the field the message must name): each calls one public entry point with
# the coroutine where a value belongs.
ENTRY_POINTS: dict[str, tuple[Entry, str]] = {
    "parse_id": (lambda c: parse_id(c, field="user_id"), "user_id"),
    "require_date": (lambda c: require_date(c, field="on"), "on"),
    "require_date_in_range": (lambda c: require_date_in_range(c, field="end"), "end"),
    "validated": (lambda c: validated(_CALENDAR_DATE, c, field="on", expected="a date"), "on"),
    "build": (lambda c: build(UserCreate, {"email": c, "display_name": "Ann"}), "email"),
    "OverviewFilters.parse": (OverviewFilters.parse, "filters"),
    "OverviewFilters.parse(field)": (lambda c: OverviewFilters.parse({"start": c}), "start"),
    "CatalogService(db)": (CatalogService, "db"),
    "DashboardService(db)": (DashboardService, "db"),
    "get_user": (lambda c: _catalog().get_user(c), "user_id"),
    "get_artist": (lambda c: _catalog().get_artist(c), "artist_id"),
    "get_artwork": (lambda c: _catalog().get_artwork(c), "artwork_id"),
    "get_exhibition": (lambda c: _catalog().get_exhibition(c), "exhibition_id"),
    "list_users(limit)": (lambda c: _catalog().list_users(limit=c), "limit"),
    "list_artists": (lambda c: _catalog().list_artists(user_id=c), "user_id"),
    "list_artworks(limit)": (lambda c: _catalog().list_artworks(user_id=ID, limit=c), "limit"),
    "list_exhibitions": (lambda c: _catalog().list_exhibitions(user_id=c), "user_id"),
    "find_active_exhibitions(on)": (
        lambda c: _catalog().find_active_exhibitions(on=c),
        "on",
    ),
    "find_active_exhibitions(user_id)": (
        lambda c: _catalog().find_active_exhibitions(on=dt.date(2024, 6, 1), user_id=c),
        "user_id",
    ),
    "create_user": (lambda c: _catalog().create_user(email=c, display_name="Ann"), "email"),
    "create_artist(owner_id)": (
        lambda c: _catalog().create_artist(owner_id=c, artist={"name": "Ann"}),
        "owner_id",
    ),
    "create_artist(artist)": (lambda c: _catalog().create_artist(owner_id=ID, artist=c), "artist"),
    "create_exhibition": (
        lambda c: _catalog().create_exhibition(curator_id=ID, exhibition=c),
        "exhibition",
    ),
    "create_artist_with_artwork": (
        lambda c: _catalog().create_artist_with_artwork(
            owner_id=ID, artist={"name": "Ann"}, artwork=c
        ),
        "artwork",
    ),
    "get_gallery_overview": (lambda c: _dashboard().get_gallery_overview(c), "filters"),
    "check_filters": (lambda c: _dashboard().check_filters({"user_id": c}), "user_id"),
    "get_user_dashboard(user_id)": (lambda c: _dashboard().get_user_dashboard(c), "user_id"),
    "get_user_dashboard(on)": (lambda c: _dashboard().get_user_dashboard(ID, on=c), "on"),
    "to_frame": (to_frame, "data"),
    "extract_frame": (lambda c: extract_frame(c, "SELECT 1"), "db"),
    "fetch_frame": (lambda c: fetch_frame(c, "SELECT 1"), "db"),
    "iter_batches": (lambda c: iter_batches(c, "SELECT 1"), "db"),
    "iter_batches(batch_rows)": (
        lambda c: iter_batches(_db(), "SELECT 1", batch_rows=c),
        "batch_rows",
    ),
    "extract_to_parquet": (lambda c: extract_to_parquet(c, "SELECT 1", "x.parquet"), "db"),
    "extract_to_parquet(path)": (lambda c: extract_to_parquet(_db(), "SELECT 1", c), "path"),
    "extract_frame(partitions)": (
        lambda c: extract_frame(_db(), "SELECT 1", partitions=c),
        "partitions",
    ),
    "extract_frame(partition_by)": (
        lambda c: extract_frame(_db(), "SELECT 1", partitions=2, partition_by=c),
        "partition_by",
    ),
    "SummaryService(db)": (SummaryService, "db"),
    "get_summary(on)": (lambda c: _summary().get_summary(on=c), "on"),
    "get_summary(top)": (lambda c: _summary().get_summary(top=c), "top"),
    "seed_demo(db)": (lambda c: seed_demo(c, progress=False), "db"),
    "seed_demo(size)": (lambda c: seed_demo(_db(), size=c, progress=False), "size"),
    "seed_demo(seed)": (lambda c: seed_demo(_db(), seed=c, progress=False), "seed"),
    "resolve_size": (resolve_size, "size"),
    "load_tables(db)": (lambda c: load_tables(c, {}, progress=False), "db"),
    "load_tables(tables)": (lambda c: load_tables(_db(), c, progress=False), "tables"),
    "panels.panel": (panels.panel, "panel"),
    "upgrade_schema": (upgrade_schema, "url"),
    "check_schema": (check_schema, "db"),
    "import_collection": (
        lambda c: import_collection(c, artists_csv=Path("a.csv"), artworks_csv=Path("b.csv")),
        "db",
    ),
    # -- the connection, import, frames and dashboard arguments (each argument on its own) --
    "Database(url)": (Database, "url"),
    "Database(read_url)": (lambda c: Database(_URL, read_url=c), "read_url"),
    "Database(admin_url)": (lambda c: Database(_URL, admin_url=c), "admin_url"),
    "Database(settings)": (lambda c: Database(_URL, settings=c), "settings"),
    "connect(url)": (connect, "url"),
    "connect(read_url)": (lambda c: connect(_URL, read_url=c), "read_url"),
    "connect(settings)": (lambda c: connect(_URL, settings=c), "settings"),
    **{
        f"import_collection({argument})": (
            lambda c, argument=argument: import_collection(
                _db(), **{**_IMPORT_ARGUMENTS, argument: c}
            ),
            argument,
        )
        for argument in [*_IMPORT_ARGUMENTS, "column_map", "rejects_path"]
    },
    **{
        f"{name}({argument})": (entry, argument)
        for frame_function in (extract_frame, fetch_frame, iter_batches)
        for name in [frame_function.__name__]
        for argument, entry in {
            "query": lambda c, f=frame_function: f(_db(), c),
            "params": lambda c, f=frame_function: f(_db(), "SELECT 1", c),
            "params.p": lambda c, f=frame_function: f(_db(), "SELECT CAST(:p AS int)", {"p": c}),
        }.items()
    },
    "to_frame(model)": (lambda c: to_frame([], model=c), "model"),
    "to_frame(columns)": (lambda c: to_frame([], columns=c), "columns"),
    "get_gallery_overview(panels)": (
        lambda c: _dashboard().get_gallery_overview(panels=c),
        "panels",
    ),
    "get_gallery_overview(timeouts)": (
        lambda c: _dashboard().get_gallery_overview(timeouts=c),
        "timeouts",
    ),
    "get_gallery_overview(timeouts.top_artists)": (
        lambda c: _dashboard().get_gallery_overview(timeouts={"top_artists": c}),
        "timeouts.top_artists",
    ),
    "get_user_dashboard(limit)": (lambda c: _dashboard().get_user_dashboard(ID, limit=c), "limit"),
    "DashboardService(panel_timeout_seconds)": (
        lambda c: DashboardService(_db(), panel_timeout_seconds=c),
        "panel_timeout_seconds",
    ),
    "list_artists(limit)": (lambda c: _catalog().list_artists(user_id=ID, limit=c), "limit"),
    "list_artworks(user_id)": (lambda c: _catalog().list_artworks(user_id=c), "user_id"),
    "list_exhibitions(limit)": (
        lambda c: _catalog().list_exhibitions(user_id=ID, limit=c),
        "limit",
    ),
    "create_user(display_name)": (
        lambda c: _catalog().create_user(email="a@b.example", display_name=c),
        "display_name",
    ),
    "create_exhibition(curator_id)": (
        lambda c: _catalog().create_exhibition(curator_id=c, exhibition={"title": "T"}),
        "curator_id",
    ),
    "create_artist_with_artwork(owner_id)": (
        lambda c: _catalog().create_artist_with_artwork(owner_id=c, artist={}, artwork={}),
        "owner_id",
    ),
    "create_artist_with_artwork(artist)": (
        lambda c: _catalog().create_artist_with_artwork(owner_id=ID, artist=c, artwork={}),
        "artist",
    ),
    # -- panels, charts and the report's parameters (drawing and reporting entry points) --
    **{
        f"charts.{p.name}": (
            functools.partial(getattr(charts, p.name), columns=p.columns, title=p.title),
            "frame",
        )
        for p in panels.PANELS
        if p.charted
    },
    "charts.exhibition_timeline": (charts.exhibition_timeline, "frame"),
    "panels.draw": (panels.draw, "result"),
    "panels.table": (panels.table, "result"),
    "panels.show": (panels.show, "result"),
    "Panel.chart": (panels.panel("monthly_revenue").chart, "frame"),
    "Panel.draw": (panels.panel("monthly_revenue").draw, "result"),
    "Panel.show": (panels.panel("key_figures").show, "result"),
    "check_parameters(db)": (lambda c: check_parameters(c, {}), "db"),
    "check_parameters(raw)": (lambda c: check_parameters(_db(), c), "parameters"),
}


async def _call(entry: Entry, value: Coroutine[Any, Any, str]) -> None:
    result = entry(value)
    if inspect.isawaitable(result):
        await result


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
async def test_a_coroutine_for_a_value_asks_about_await(name: str) -> None:
    entry, field = ENTRY_POINTS[name]
    coroutine = get_user_id()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ValidationError) as caught:
            await _call(entry, coroutine)
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert HINT in message
    assert "get_user_id" in message  # which coroutine it was
    # Closed, so it can never warn "never awaited" (checked directly: a gc.collect()
    # per case to provoke the warning cost most of the unit suite's time).
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)]


def test_every_field_of_a_model_is_checked_and_every_coroutine_closed() -> None:
    first, second = get_user_id(), get_user_id()
    with pytest.raises(ValidationError, match=r"^email: .*forget `await`"):
        build(UserCreate, {"email": first, "display_name": second})
    assert inspect.getcoroutinestate(second) == inspect.CORO_CLOSED


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(True, "got True"), (0, "got 0"), (10**12, "got 1000000000000"), ("5", "got '5'")],
)
async def test_limit_is_checked_by_its_pydantic_type(value: object, fragment: str) -> None:
    with pytest.raises(ValidationError, match=rf"^limit: expected a whole number .*{fragment}"):
        await _catalog().list_users(limit=value)  # type: ignore[arg-type]


async def test_a_datetime_is_not_a_date() -> None:
    with pytest.raises(ValidationError, match=r"^on: expected a date such as 2025-06-01"):
        await _catalog().find_active_exhibitions(on=dt.datetime(2024, 6, 1, 12))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(True, "got True"), (0, "got 0"), (101, "got 101"), (2.0, "got 2.0"), ("5", "got '5'")],
)
async def test_the_summarys_top_is_checked_by_its_pydantic_type_before_any_io(
    value: object, fragment: str
) -> None:
    """``on`` left out: the check comes before ``Database.today()`` reads the (here
    unreachable) database."""
    with pytest.raises(ValidationError, match=rf"^top: expected a whole number .*{fragment}"):
        await _summary().get_summary(top=value)  # type: ignore[arg-type]


async def test_every_coroutine_given_to_one_call_is_closed() -> None:
    """Two coroutines in one call: the first is reported, both are closed (the second
    would otherwise warn "never awaited" later)."""
    first, second = get_user_id(), get_user_id()
    with pytest.raises(ValidationError, match=r"^on: .*forget `await`"):
        await _dashboard().get_user_dashboard(ID, on=first, limit=second)
    assert inspect.getcoroutinestate(second) == inspect.CORO_CLOSED
    first, second = get_user_id(), get_user_id()
    with pytest.raises(ValidationError, match=r"^owner_email: .*forget `await`"):
        await import_collection(
            _db(), **{**_IMPORT_ARGUMENTS, "owner_email": first, "source": second}
        )
    assert inspect.getcoroutinestate(second) == inspect.CORO_CLOSED


def test_run_sync_given_the_function_asks_for_a_call() -> None:
    with pytest.raises(ValidationError) as caught:
        run_sync(get_user_id)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "coroutine: expected a coroutine object, got function get_user_id: "
        "did you mean run_sync(get_user_id(...))?"
    )
