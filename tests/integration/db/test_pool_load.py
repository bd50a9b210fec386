"""Many dashboards at once against a small pool: all succeed, nothing leaks, and a pool
that cannot serve in time says so instead of hanging."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from gallery_analytics.config import PoolSettings, Settings
from gallery_analytics.db.database import APPLICATION_NAME, Database
from gallery_analytics.errors import PoolExhaustedError
from gallery_analytics.services.dashboard import DashboardService


async def _our_connections(observer: Database, database: str) -> int:
    async with observer.read_session() as session:
        return int(
            await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                    "AND datname = :db AND pid <> pg_backend_pid()"
                ),
                {"app": APPLICATION_NAME, "db": database},
            )
            or 0
        )


async def test_fifty_concurrent_overviews_on_a_pool_of_ten(fresh_db: Database) -> None:
    """On a private database, so only this test's connections are counted (the observer,
    ``fresh_db``, only ever holds one, its own, which the count excludes)."""
    db = Database(fresh_db.url, settings=Settings(pool=PoolSettings(size=10, max_overflow=0)))
    service = DashboardService(db)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, await _our_connections(fresh_db, str(db.url.database)))
            await asyncio.sleep(0.01)

    async with db:
        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        try:
            loads = await asyncio.gather(*(service.get_gallery_overview() for _ in range(50)))
        finally:
            watcher.cancel()
        elapsed = time.perf_counter() - started
        assert len(loads) == 50
        assert all(not load.failed for load in loads), [load.failed for load in loads]
        assert all(len(load.panels) == 7 for load in loads)
        first = loads[0]
        assert all(
            load.panels["key_figures"].rows == first.panels["key_figures"].rows for load in loads
        )
        assert 0 < peak <= 10  # the pool bound held
        assert db.pool_status()["checked_out"] == 0
        print(f"50 overviews (350 panel queries) in {elapsed:.2f} s; peak connections {peak}")
    assert await _our_connections(fresh_db, str(db.url.database)) == 0


async def test_an_exhausted_pool_fails_fast_naming_its_settings(seeded_db: Database) -> None:
    settings = Settings(pool=PoolSettings(size=1, max_overflow=0, timeout_seconds=0.5))
    db = Database(seeded_db.url, settings=settings)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold_the_only_connection() -> None:
        async with db.read_session() as session:
            await session.execute(text("SELECT 1"))
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_only_connection())
    async with db:
        try:
            await holding.wait()
            started = time.perf_counter()
            with pytest.raises(PoolExhaustedError) as caught:
                async with db.read_session() as session:
                    await session.execute(text("SELECT 1"))
            assert time.perf_counter() - started < 5
            message = str(caught.value)
            assert "within 0.5 s" in message
            assert "pool of 1 connections, max overflow 0" in message
            assert "GALLERY_POOL_SIZE" in message

            # A dashboard load in the same situation reports it per panel, it does not hang.
            overview = await DashboardService(db).get_gallery_overview(panels=["key_figures"])
            assert overview["key_figures"].status == "error"
            assert "pool of 1 connections" in (overview["key_figures"].error or "")
        finally:
            release.set()
            await holder
