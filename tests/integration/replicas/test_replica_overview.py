"""The gallery overview on a replica that stops in the middle of the load: every panel
still arrives, complete, equal to the same overview read on the primary.

The panels are held mid-query on the replica by PostgreSQL itself: an ACCESS EXCLUSIVE
lock taken on the primary is replayed on the standby, where it blocks readers. The
replica is then stopped (its sessions die mid-query), the panels run again on the
primary (blocked there by the same lock until it is released), and the load completes.
"""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text

from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.services.dashboard import DashboardService
from tests.integration.replicas.conftest import DATABASE, ReplicaPair

_DATA_TABLES = (
    "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables "
    "WHERE schemaname = 'public' AND tablename NOT IN ('alembic_version', 'api_tokens')"
)


def _comparable(overview: object) -> dict[str, object]:
    panels = overview.panels  # type: ignore[attr-defined]
    return {
        name: (result.status, result.rows, result.notes, result.error)
        for name, result in panels.items()
    }


async def _replica_blocks_reads(pair: ReplicaPair) -> bool:
    connection = await asyncpg.connect(driver_dsn(pair.replica_url, database=DATABASE))
    try:
        await connection.execute("SET statement_timeout = 100")
        await connection.fetchval("SELECT count(*) FROM sales")
    except asyncpg.QueryCanceledError:
        return True
    finally:
        await connection.close()
    return False


async def test_a_replica_stopped_mid_overview_still_gives_the_whole_overview(
    replica_pair: ReplicaPair,
) -> None:
    pair = replica_pair
    await asyncio.to_thread(pair.replica.start)
    filters = {"start": "2024-01-01", "end": "2024-12-31"}
    async with pair.database() as db:
        service = DashboardService(db)
        async with db.read_session(primary=True) as session:
            assert await session.scalar(text("SELECT NOT pg_is_in_recovery()"))
        expected = _comparable(await service.get_gallery_overview(filters, refresh=True))
        async with db.read_session() as session:  # reads do go to the replica
            assert await session.scalar(text("SELECT pg_is_in_recovery()"))

        locker = await asyncpg.connect(driver_dsn(pair.primary_url, database=DATABASE))
        try:
            tables = await locker.fetchval(_DATA_TABLES)
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
            # Nothing flushes an open transaction's WAL (its lock record) soon: switch
            # to a new WAL file, which flushes and streams it.
            await locker.execute("SELECT pg_switch_wal()")
            for _ in range(100):
                if await _replica_blocks_reads(pair):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the lock never reached the replica")

            loading = asyncio.create_task(service.get_gallery_overview(filters, refresh=True))
            await asyncio.sleep(0.5)  # every panel is now waiting on the replica
            assert not loading.done()
            await asyncio.to_thread(pair.replica.stop)
            await asyncio.sleep(0.5)  # the panels are now waiting on the primary
            assert not loading.done()
            await transaction.rollback()
        finally:
            await locker.close()
        overview = await loading
        assert _comparable(overview) == expected
        assert all(result.status == "ok" for result in overview.panels.values())
        status = db.replica_status()
        assert status is not None
        assert status.state == "down"
    await asyncio.to_thread(pair.replica.start)
