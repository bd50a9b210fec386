"""Revision 0007: the data version is bumped once per writing transaction, before its
first write, so two multi-statement writers queue instead of deadlocking; a writer
cannot switch the bump off."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.engine import URL

from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.db.database import Database
from gallery_analytics.db.schema import upgrade_schema
from tests.integration.db.test_migrations import new_database

_VERSION = "SELECT version FROM data_version"
_TWO_USERS = (
    "INSERT INTO users (id, email, display_name) VALUES "
    "('00000000-0000-0000-0000-00000000000a', 'a@example.org', 'A'), "
    "('00000000-0000-0000-0000-00000000000b', 'b@example.org', 'B')"
)
_RENAME = "UPDATE users SET display_name = display_name || '.' WHERE email = $1"


async def _writers(db: Database) -> tuple[asyncpg.Connection, asyncpg.Connection]:
    one = await asyncpg.connect(driver_dsn(db.url))
    two = await asyncpg.connect(driver_dsn(db.url))
    return one, two


@pytest.mark.parametrize("revision", ["0006", "0007"])
async def test_two_crossing_writers_queue_instead_of_deadlocking(
    server_url: URL, revision: str
) -> None:
    """T1 writes row a, T2 row b, then each the other's row. Under 0006 (version bumped
    after each statement) T2 holds row b while it queues for the version row that T1
    holds: a deadlock. Under 0007 T2 queues for the version row before it takes b."""
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url, revision=revision)
        one, two = await _writers(db)
        try:
            await one.execute(_TWO_USERS)
            start = await one.fetchval(_VERSION)
            first, second = one.transaction(), two.transaction()
            await first.start()
            await second.start()
            await one.execute(_RENAME, "a@example.org")
            crossing = asyncio.create_task(two.execute(_RENAME, "b@example.org"))
            await asyncio.sleep(0.3)  # T2 is now waiting (0007) or holds row b (0006)
            try:
                await one.execute(_RENAME, "b@example.org")
                await first.commit()
                await crossing
                await two.execute(_RENAME, "a@example.org")
                await second.commit()
            except asyncpg.DeadlockDetectedError:
                assert revision == "0006", "0007 must not deadlock"
                return
            assert revision == "0007", "0006 deadlocks here: the test would not catch it"
            # One bump per transaction, not per statement.
            assert await one.fetchval(_VERSION) == start + 2
        finally:
            await one.close()
            await two.close()


async def test_a_writer_cannot_switch_the_bump_off(server_url: URL) -> None:
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url)
        one, _two = await _writers(db)
        await _two.close()
        try:
            start = await one.fetchval(_VERSION)
            async with one.transaction():
                for name in ("gallery_analytics.data_version_bumped", "data_version.skip"):
                    await one.execute(f"SET LOCAL {name} = 'on'")
                await one.execute(_TWO_USERS)
            assert await one.fetchval(_VERSION) == start + 1
            # And a rolled-back savepoint takes its bump along; the next write bumps again.
            async with one.transaction():
                savepoint = one.transaction()
                await savepoint.start()
                await one.execute(_RENAME, "a@example.org")
                await savepoint.rollback()
                await one.execute(_RENAME, "b@example.org")
            assert await one.fetchval(_VERSION) == start + 2
        finally:
            await one.close()
