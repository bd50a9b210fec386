"""The shared panel cache against a real PostgreSQL (in-process memory backend): a hit
equals a fresh read, every write path makes the next overview read afresh, concurrent
identical loads run one query per panel (counted as statements sent to the server),
cancellation of the first caller or of all of them, failures never cached, refresh, TTL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Engine

from gallery_analytics.db.database import Database
from gallery_analytics.demo.generate import DEMO_TODAY
from gallery_analytics.demo.load import seed_demo
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.results import GalleryOverviewDto
from gallery_analytics.errors import PanelFailedError
from gallery_analytics.frames import to_frame
from gallery_analytics.panels import PANELS, panel
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.panel_cache import panel_cache
from tests.browser.harness import burn_cpus
from tests.helpers import import_sample
from tests.integration.cache.conftest import with_cache_settings

# Filters no other test asks for, so each test starts with cold entries on seeded_db.
_distinct = itertools.count(40)


def cold_filters() -> dict[str, Any]:
    return {"top_n": next(_distinct)}


@contextmanager
def executed_statements() -> Iterator[list[str]]:
    """Every statement any engine of this process sends to the server, in order."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])  # (connection, cursor, statement, parameters, context, many)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def panel_sql(name: str, filters: dict[str, Any]) -> str:
    """The SQL text a panel's query is sent as (today: the demo data's reference date)."""
    query = panel(name).query(OverviewFilters.parse({**filters, "today": DEMO_TODAY}))
    return str(query.compile(dialect=PGDialect_asyncpg()))


def panel_queries(seen: list[str], filters: dict[str, Any]) -> dict[str, int]:
    return {p.name: seen.count(panel_sql(p.name, filters)) for p in PANELS}


def rows_of(overview: GalleryOverviewDto) -> dict[str, Any]:
    return {name: result.rows for name, result in overview.panels.items()}


@asynccontextmanager
async def cpu_burners() -> AsyncIterator[None]:
    """A busy process per core for the block (started off the event loop)."""
    burning = burn_cpus()
    await asyncio.to_thread(burning.__enter__)
    try:
        yield
    finally:
        await asyncio.to_thread(burning.__exit__, None, None, None)


async def lock_waiters(db: Database) -> int:
    async with db.admin_connection() as connection:
        return int(await connection.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"))


# What a panel's snapshot reads before its query: never locked.
_NOT_LOCKED = ("data_version", "gallery_dataset", "alembic_version", "api_tokens")


@asynccontextmanager
async def panels_blocked(db: Database) -> AsyncIterator[None]:
    """Every table a panel may read (base tables or rollups) locked against readers until
    the block ends: panel queries wait on the lock."""
    async with db.admin_transaction() as connection:
        tables = await connection.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> ALL($1::text[]) ORDER BY tablename",
            list(_NOT_LOCKED),
        )
        names = ", ".join(row["name"] for row in tables)
        await connection.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
        yield


async def wait_until(condition: Any, what: str, *, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def data_version(db: Database) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(text("SELECT version FROM data_version")))


# -- hits ---------------------------------------------------------------------------------


async def test_a_hit_equals_a_fresh_read_and_says_its_age(seeded_db: Database) -> None:
    service = DashboardService(seeded_db)
    filters = {**cold_filters(), "start": "2023-01-01", "end": "2024-06-30", "currency": "USD"}
    with executed_statements() as seen:
        first = await service.get_gallery_overview(filters)
        second = await service.get_gallery_overview(filters)
    assert not first.failed
    assert not any(result.from_cache for result in first.panels.values())
    assert all(result.from_cache for result in second.panels.values())
    assert panel_queries(seen, filters) == {p.name: 1 for p in PANELS}
    fresh = await service.get_gallery_overview(filters, refresh=True)
    assert rows_of(second) == rows_of(first) == rows_of(fresh)
    for name, result in second.panels.items():
        assert result.columns == fresh[name].columns
        assert result.notes == fresh[name].notes
        assert result.cached_at == first[name].cached_at
        assert result.cached_at is not None
        assert result.cached_at.tzinfo is not None
        age = result.age_seconds()
        assert age is not None
        assert age >= 0
        assert (result.age_text() or "").startswith("cached ")
        assert 0 < result.wall_seconds <= second.wall_seconds  # this load's own wait
    assert first["key_figures"].age_seconds() is None  # read by that load itself


async def test_get_panel_is_cached_with_the_overview(seeded_db: Database) -> None:
    service = DashboardService(seeded_db)
    filters = cold_filters()
    await service.get_gallery_overview(filters)
    one = await service.get_panel("top_artists", filters)
    assert one.from_cache
    fresh = await service.get_panel("top_artists", filters, refresh=True)
    assert not fresh.from_cache
    assert fresh.rows == one.rows
    assert fresh.cached_at is not None
    assert one.cached_at is not None
    assert fresh.cached_at > one.cached_at
    again = await service.get_panel("top_artists", filters)
    assert again.from_cache
    assert again.cached_at == fresh.cached_at


async def test_panels_outside_the_registry_are_never_cached(seeded_db: Database) -> None:
    from tests.integration.services.test_dashboard import BROKEN

    service = DashboardService(seeded_db)
    for _ in range(2):
        result = await service.get_gallery_overview(panels=[BROKEN])
        assert result["broken"].status == "error"
        assert not result["broken"].from_cache
        assert result["broken"].cached_at is None


# -- writes -------------------------------------------------------------------------------


async def test_a_created_artist_is_in_the_next_overview(fresh_db: Database) -> None:
    service = DashboardService(fresh_db)
    before = await service.get_gallery_overview()
    assert (await service.get_gallery_overview()).panels["artists_by_nationality_gender"].from_cache
    version = await data_version(fresh_db)
    async with fresh_db.read_session() as session:
        owner = str(await session.scalar(text("SELECT id FROM users ORDER BY id LIMIT 1")))
    await CatalogService(fresh_db).create_artist(
        owner_id=owner, artist={"name": "Cache Test", "nationality": "Atlantean"}
    )
    assert await data_version(fresh_db) > version
    after = await service.get_gallery_overview()
    artists = after["artists_by_nationality_gender"]
    assert not artists.from_cache
    assert to_frame(artists)["artists"].sum() == (
        to_frame(before["artists_by_nationality_gender"])["artists"].sum() + 1
    )


async def test_an_import_is_in_the_next_overview(fresh_db: Database) -> None:
    service = DashboardService(fresh_db)
    before = await service.get_gallery_overview()
    version = await data_version(fresh_db)
    await import_sample(fresh_db)
    assert await data_version(fresh_db) > version
    after = await service.get_gallery_overview()
    assert not any(result.from_cache for result in after.panels.values())
    counted = to_frame(after["key_figures"]).iloc[0]["artworks"]
    assert counted == to_frame(before["key_figures"]).iloc[0]["artworks"] + 6


async def test_a_reseed_is_in_the_next_overview(fresh_db: Database) -> None:
    service = DashboardService(fresh_db)
    before = await service.get_gallery_overview()
    version = await data_version(fresh_db)
    await seed_demo(fresh_db, size="small", seed=7, progress=False)  # load_tables inside
    assert await data_version(fresh_db) > version
    after = await service.get_gallery_overview()
    assert not any(result.from_cache for result in after.panels.values())
    assert rows_of(after) != rows_of(before)
    assert rows_of(after) == rows_of(await service.get_gallery_overview(refresh=True))


async def test_a_raw_sql_write_as_the_writer_is_seen(fresh_db: Database) -> None:
    """A write the Database never heard of (psql as the writer role): the trigger bumps
    the version, so the next lookup after the version copy ends reads afresh."""
    service = DashboardService(fresh_db)
    before = await service.get_gallery_overview()
    version = await data_version(fresh_db)
    dsn = fresh_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("DELETE FROM exhibition_visits")
    finally:
        await connection.close()
    assert await data_version(fresh_db) > version
    assert to_frame(before["exhibition_attendance"])["visitors"].sum() > 0

    async def attendance_gone() -> bool:
        overview = await service.get_gallery_overview(panels=["exhibition_attendance"])
        frame = to_frame(overview["exhibition_attendance"])
        return frame.empty or frame["visitors"].fillna(0).sum() == 0

    await wait_until(attendance_gone, "the overview showing the deleted visits gone")


# -- single-flight ------------------------------------------------------------------------


async def test_fifty_identical_loads_run_one_query_per_panel(seeded_db: Database) -> None:
    service = DashboardService(seeded_db)
    filters = cold_filters()
    async with cpu_burners():
        with executed_statements() as seen:
            loads = await asyncio.gather(
                *(service.get_gallery_overview(filters) for _ in range(50))
            )
    assert panel_queries(seen, filters) == {p.name: 1 for p in PANELS}
    # The version: read once in each panel's snapshot (with its statement timeout),
    # and for the lookups at most once for all the callers that arrived together (none
    # when a copy less than a second old was at hand), not once per caller (350).
    in_snapshots = [sql for sql in seen if sql.startswith("SELECT version FROM data_version, ")]
    assert len(in_snapshots) == len(PANELS)
    assert seen.count("SELECT version FROM data_version") <= 2
    assert all(not load.failed for load in loads)
    expected = rows_of(loads[0])
    assert all(rows_of(load) == expected for load in loads)
    assert seeded_db.pool_status()["checked_out"] == 0


async def test_the_first_caller_cancelled_leaves_the_others_their_result(
    fresh_db: Database,
) -> None:
    service = DashboardService(fresh_db)
    filters = cold_filters()
    with executed_statements() as seen:
        async with panels_blocked(fresh_db):
            first = asyncio.create_task(service.get_panel("top_artists", filters))
            await wait_until(lambda: _positive(lock_waiters(fresh_db)), "the panel query waiting")
            others = [
                asyncio.create_task(service.get_panel("top_artists", filters)) for _ in range(3)
            ]
            await asyncio.sleep(0.2)  # let them join the first one's query
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            assert not any(other.done() for other in others)
        results = await asyncio.gather(*others)
    assert seen.count(panel_sql("top_artists", filters)) == 1
    assert all(result.ok and result.rows == results[0].rows for result in results)
    assert fresh_db.pool_status()["checked_out"] == 0


async def _positive(count: Any) -> bool:
    return int(await count) > 0


async def test_every_caller_cancelled_cancels_the_query(fresh_db: Database) -> None:
    service = DashboardService(fresh_db)
    filters = cold_filters()
    async with panels_blocked(fresh_db):
        callers = [asyncio.create_task(service.get_panel("top_artists", filters)) for _ in range(3)]
        await wait_until(lambda: _positive(lock_waiters(fresh_db)), "the panel query waiting")
        for caller in callers:
            caller.cancel()
        for caller in callers:
            with pytest.raises(asyncio.CancelledError):
                await caller
        await wait_until(
            lambda: _zero(lock_waiters(fresh_db)),
            "the cancelled query gone from the server (long before its 30 s budget)",
            seconds=10,
        )
    assert fresh_db.pool_status()["checked_out"] == 0


async def _zero(count: Any) -> bool:
    return int(await count) == 0


async def test_a_timed_out_panel_is_not_cached(fresh_db: Database) -> None:
    service = DashboardService(fresh_db, panel_timeout_seconds=0.5)
    filters = cold_filters()
    async with panels_blocked(fresh_db):
        loaded = await service.get_gallery_overview(filters, panels=["top_artists"])
        assert loaded["top_artists"].status == "timeout"
        with pytest.raises(PanelFailedError):
            await service.get_panel("top_artists", filters)
    with executed_statements() as seen:
        again = await service.get_gallery_overview(filters, panels=["top_artists"])
    assert again["top_artists"].ok
    assert not again["top_artists"].from_cache
    assert seen.count(panel_sql("top_artists", filters)) == 1


# -- settings -----------------------------------------------------------------------------


async def test_entries_expire_after_the_ttl(seeded_db: Database) -> None:
    db = with_cache_settings(seeded_db, cache_ttl_seconds=0.3)
    async with db:
        service = DashboardService(db)
        filters = cold_filters()
        first = await service.get_gallery_overview(filters, panels=["monthly_revenue"])
        assert not first["monthly_revenue"].from_cache
        cache = await panel_cache(db)
        version = await data_version(db)
        keyed = OverviewFilters.parse(filters)
        key = cache.key(panel("monthly_revenue"), keyed, version)
        assert await cache.get(key) is not None  # the key the service stored under

        async def expired() -> bool:
            return await cache.get(key) is None

        await wait_until(expired, "the entry expiring", seconds=10)
        again = await service.get_gallery_overview(filters, panels=["monthly_revenue"])
        assert not again["monthly_revenue"].from_cache
        assert again["monthly_revenue"].rows == first["monthly_revenue"].rows


async def test_refresh_must_be_a_bool(seeded_db: Database) -> None:
    from gallery_analytics import ValidationError

    with pytest.raises(ValidationError) as caught:
        await DashboardService(seeded_db).get_gallery_overview(refresh="yes")  # type: ignore[arg-type]
    assert caught.value.field == "refresh"


async def test_a_short_budget_does_not_cut_a_longer_one_short(fresh_db: Database) -> None:
    """Callers sharing one query: the one with 0.5 s gives up alone; the query goes on
    for the one with the default budget."""
    filters = cold_filters()
    impatient = DashboardService(fresh_db, panel_timeout_seconds=0.5)
    patient = DashboardService(fresh_db)
    with executed_statements() as seen:
        async with panels_blocked(fresh_db):
            first = asyncio.create_task(impatient.get_panel("top_artists", filters))
            await wait_until(lambda: _positive(lock_waiters(fresh_db)), "the query waiting")
            waiting = asyncio.create_task(patient.get_panel("top_artists", filters))
            with pytest.raises(PanelFailedError):
                await first  # the first caller, whose query the other one joined
            assert not waiting.done()
        result = await waiting
    assert result.ok
    assert seen.count(panel_sql("top_artists", filters)) == 1


async def test_a_refresh_never_joins_a_read_already_running(fresh_db: Database) -> None:
    """A refresh promises what is there now: one that arrives while another refresh's
    query runs (which may have read before a write this caller saw) runs its own."""
    service = DashboardService(fresh_db)
    filters = cold_filters()
    with executed_statements() as seen:
        async with panels_blocked(fresh_db):
            first = asyncio.create_task(service.get_panel("top_artists", filters, refresh=True))
            await wait_until(lambda: _positive(lock_waiters(fresh_db)), "the panel query waiting")
            second = asyncio.create_task(service.get_panel("top_artists", filters, refresh=True))
            await asyncio.sleep(0.2)
        results = await asyncio.gather(first, second)
    assert seen.count(panel_sql("top_artists", filters)) == 2
    assert all(result.ok and not result.from_cache for result in results)


async def test_the_workbench_today_and_an_explicit_today_are_different_entries(
    seeded_db: Database,
) -> None:
    """The demo's today is its reference date (2025-11-15), not the calendar's: a load
    without a today and one with today=<calendar date> must not share an entry."""
    service = DashboardService(seeded_db)
    implicit = await service.get_panel("key_figures", {})
    calendar = await service.get_panel("key_figures", {"today": dt.date.today()})
    assert not calendar.from_cache
    fresh = await service.get_panel("key_figures", {"today": dt.date.today()}, refresh=True)
    assert calendar.rows == fresh.rows
    reference = await service.get_panel(
        "key_figures", {"today": await seeded_db.today()}, refresh=True
    )
    assert implicit.rows == reference.rows
    assert implicit.rows != calendar.rows  # the two days differ, or the test shows nothing
