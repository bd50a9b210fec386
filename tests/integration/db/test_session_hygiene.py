"""Nothing one user does to a session reaches the next one, and one session is never
shared by gathered tasks (the platform notes' pitfall) without a clear, safe failure.

A pool of one connection makes "the next session" the same server connection, so
anything not reset would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics import Database
from gallery_analytics.config import PoolSettings, Settings
from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.errors import ConcurrentSessionUseError
from gallery_analytics.repositories import (
    ArtistRepository,
    ArtworkRepository,
    ExhibitionRepository,
)
from tests.fault_table import FAULT_TABLE


def _with_pool(db: Database, *, size: int, timeout: float = 30.0) -> Database:
    settings = Settings(pool=PoolSettings(size=size, timeout_seconds=timeout))
    return Database(db.url, read_url=db.read_url, admin_url=db.admin_url, settings=settings)


@pytest.fixture
async def one_connection_db(fresh_db: Database) -> AsyncIterator[Database]:
    async with _with_pool(fresh_db, size=1) as db:
        yield db


SessionFactory = Callable[[Database], AbstractAsyncContextManager[Any]]
SIDES: dict[str, SessionFactory] = {
    "read": lambda db: db.read_session(),
    "write": lambda db: db.write_session(),
}

# (what a caller changes, statement, how the next session sees it)
LEAKS = [
    ("statement_timeout", "SET statement_timeout = 0", "SHOW statement_timeout"),
    ("search_path", "SET search_path = pg_catalog", "SHOW search_path"),
    ("timezone", "SET TIME ZONE 'Pacific/Kiritimati'", "SHOW TimeZone"),
    ("work_mem", "SET work_mem = '1GB'", "SHOW work_mem"),
    ("application_name", "SET application_name = 'hijacked'", "SHOW application_name"),
    (
        "session read-write default",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "SHOW default_transaction_read_only",
    ),
]


@pytest.mark.parametrize("side", sorted(SIDES))
@pytest.mark.parametrize(("setting", "change", "show"), LEAKS, ids=[leak[0] for leak in LEAKS])
async def test_session_settings_do_not_leak_to_the_next_session(
    one_connection_db: Database, side: str, setting: str, change: str, show: str
) -> None:
    db = one_connection_db
    async with SIDES[side](db) as session:
        before = await session.scalar(text(show))
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        await session.execute(text(change))
        changed = await session.scalar(text(show))
        if side == "read":
            # A read session ends in a rollback, which undoes a plain SET; a COMMIT
            # sent as SQL makes it stick on the connection.
            await session.execute(text("COMMIT"))
    assert changed != before or setting == "session read-write default"
    async with SIDES[side](db) as session:
        assert await session.scalar(text("SELECT pg_backend_pid()")) == pid  # same connection
        assert await session.scalar(text(show)) == before


async def test_the_panels_work_after_a_session_changed_search_path(
    one_connection_db: Database,
) -> None:
    from gallery_analytics import DashboardService

    async with one_connection_db.read_session() as session:
        await session.execute(text("SET search_path = pg_catalog"))
        await session.execute(text("COMMIT"))
    overview = await DashboardService(one_connection_db).get_gallery_overview({})
    assert all(panel.error is None for panel in overview.panels.values())


@pytest.mark.parametrize("side", sorted(SIDES))
async def test_advisory_locks_are_released_when_a_session_closes(
    one_connection_db: Database, server_url: URL, side: str
) -> None:
    async with SIDES[side](one_connection_db) as session:
        await session.execute(text("SELECT pg_advisory_lock(4242)"))
    observer = await asyncpg.connect(
        driver_dsn(server_url, database=one_connection_db.url.database)
    )
    try:
        held = await observer.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
        )
        # The lock is free for anyone else, at once.
        acquired = await observer.fetchval("SELECT pg_try_advisory_lock(4242)")
    finally:
        await observer.close()
    assert (held, acquired) == (0, True)


async def test_temporary_tables_do_not_outlive_their_session(one_connection_db: Database) -> None:
    async with one_connection_db.write_session() as session:
        await session.execute(text("CREATE TEMP TABLE leftover (x int) ON COMMIT PRESERVE ROWS"))
        await session.execute(text("INSERT INTO leftover VALUES (1)"))
    async with one_connection_db.write_session() as session:
        exists = await session.scalar(text("SELECT to_regclass('pg_temp.leftover') IS NOT NULL"))
    assert exists is False


# -- one session, many tasks ---------------------------------------------------------------


async def _gather_on_one_session(db: Database, user_id: str) -> None:
    """The platform notes' get_dashboard_data, with one session for all three calls."""
    async with db.read_session() as session:
        await asyncio.gather(
            ArtistRepository(session).find_by_user(user_id),
            ArtworkRepository(session).find_by_user(user_id),
            ExhibitionRepository(session).find_active(on=dt.date(2025, 11, 15)),
        )


async def _a_user(db: Database) -> str:
    async with db.read_session() as session:
        return str(await session.scalar(text("SELECT owner_id FROM artworks LIMIT 1")))


async def test_gathering_on_one_session_fails_fast_and_leaves_the_pool_whole(
    fresh_db: Database, server_url: URL
) -> None:
    async with _with_pool(fresh_db, size=2, timeout=5) as db:
        user_id = await _a_user(db)
        for _ in range(5):
            with pytest.raises(ConcurrentSessionUseError, match="its own session"):
                await _gather_on_one_session(db, user_id)
            assert db.pool_status()["checked_out"] == 0
        # No transaction of those sessions is left open on the server...
        observer = await asyncpg.connect(driver_dsn(server_url, database=db.url.database))
        try:
            open_transactions = await observer.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'"
            )
            # ...so a schema change (which needs an exclusive lock) is not blocked.
            await observer.execute("SET lock_timeout = '5s'")
            await observer.execute("ALTER TABLE artists ADD COLUMN hygiene_probe int")
            await observer.execute("ALTER TABLE artists DROP COLUMN hygiene_probe")
        finally:
            await observer.close()
        assert open_transactions == 0
        # ...and both pooled connections still serve the right way.
        results = await asyncio.gather(*(_count_artists(db) for _ in range(2)))
        assert results[0] == results[1] > 0
    FAULT_TABLE.append(
        (
            "gather of 3 calls on one session x5",
            "ConcurrentSessionUseError, pool whole",
            f"5/5 refused; 0 checked out, {open_transactions} open transactions",
        )
    )


async def _count_artists(db: Database) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM artists")) or 0)


async def test_a_task_per_session_still_runs_in_parallel(fresh_db: Database) -> None:
    """The fix is not serialisation: separate sessions keep running concurrently."""
    async with _with_pool(fresh_db, size=3) as db:

        async def sleepy() -> int:
            async with db.read_session() as session:
                return int(await session.scalar(text("SELECT pg_backend_pid() FROM pg_sleep(0.2)")))

        pids = await asyncio.gather(sleepy(), sleepy(), sleepy())
    assert len(set(pids)) == 3


async def test_the_same_session_in_sequence_from_another_task_is_fine(
    fresh_db: Database,
) -> None:
    """Handing a session to another task (one at a time) is not concurrent use."""
    async with fresh_db.read_session() as session:
        first = await asyncio.create_task(session.scalar(text("SELECT 1")))
        second = await asyncio.create_task(session.scalar(text("SELECT 2")))
    assert (first, second) == (1, 2)


async def test_a_stream_used_up_in_one_task_frees_the_session_for_another(
    fresh_db: Database,
) -> None:
    """The stream guard refuses only while a result still holds the cursor."""
    async with fresh_db.read_session() as session:

        async def count_streamed() -> int:
            result = await session.stream(text("SELECT g FROM generate_series(1, 2000) AS g"))
            return len([row async for row in result])

        streamed = await asyncio.create_task(count_streamed())
        after = await session.scalar(text("SELECT 7"))
    assert (streamed, after) == (2000, 7)


async def test_savepoints_in_one_task_still_work(fresh_db: Database) -> None:
    """The guard on transaction blocks refuses other tasks, not nested use by the owner."""
    async with fresh_db.write_session() as session:
        await session.execute(text("CREATE TEMP TABLE savepoint_probe (x int)"))
        with contextlib.suppress(RuntimeError):
            async with session.begin_nested():
                await session.execute(text("INSERT INTO savepoint_probe VALUES (1)"))
                raise RuntimeError("roll this savepoint back")
        async with session.begin_nested():
            await session.execute(text("INSERT INTO savepoint_probe VALUES (2)"))
        kept = list(await session.scalars(text("SELECT x FROM savepoint_probe")))
    assert kept == [2]
