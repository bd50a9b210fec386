"""Reads on a real streaming replica: where they go, read-your-writes, and fallback.

The replica is the project's own (``EmbeddedReplica``); its replay is paused, slowed or
the server stopped with PostgreSQL's own controls, never simulated.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pandas.testing as pdt
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from gallery_analytics.db.database import Database
from gallery_analytics.db.replicas import RETRY_SECONDS
from gallery_analytics.db.schema import HEAD_REVISION, check_schema
from gallery_analytics.errors import SchemaOutdatedError
from gallery_analytics.frames import extract_frame, extract_to_parquet, iter_batches
from gallery_analytics.services.catalog import CatalogService
from tests.integration.replicas.conftest import ReplicaPair

IN_RECOVERY = text("SELECT pg_is_in_recovery()")
_INSERT_ARTIST = (
    "INSERT INTO artists (id, owner_id, name) SELECT gen_random_uuid(), id, '{name}' "
    "FROM users LIMIT 1"
)
ARTISTS_NAMED = text("SELECT count(*) FROM artists WHERE name = :name")


async def _where_reads_go(db: Database, **kwargs: bool) -> str:
    async with db.read_session(**kwargs) as session:
        return "replica" if await session.scalar(IN_RECOVERY) else "primary"


async def _add_artist(db: Database, name: str) -> None:
    """Through the service, as a notebook would."""
    async with db.read_session(primary=True) as session:
        owner = await session.scalar(text("SELECT id FROM users ORDER BY id LIMIT 1"))
    await CatalogService(db).create_artist(owner_id=str(owner), artist={"name": name})


async def _artists_named(db: Database, name: str) -> int:
    async with db.read_session() as session:
        count = await session.scalar(ARTISTS_NAMED, {"name": name})
    assert isinstance(count, int)
    return count


async def test_reads_go_to_the_replica_and_writes_to_the_primary(
    replicated_db: Database,
) -> None:
    assert await _where_reads_go(replicated_db) == "replica"
    assert await _where_reads_go(replicated_db, primary=True) == "primary"
    async with replicated_db.write_session() as session:
        assert await session.scalar(IN_RECOVERY) is False
    # Panels' reads too (CatalogService and the dashboard use read_session).
    assert await replicated_db.run_read(lambda s: s.scalar(IN_RECOVERY)) is True
    status = replicated_db.replica_status()
    assert status is not None
    assert (status.state, status.reads_go_to) == ("up", "replica")


async def test_a_read_after_a_write_waits_for_the_replica_to_replay_it(
    replicated_db: Database, replica_pair: ReplicaPair
) -> None:
    """Replay paused at the write: the next read waits; replay resumed 0.3 s later, so
    the read is served by the replica, with the new row. Without the wait it would
    read the replica at once and miss the row."""
    await replica_pair.on_replica("SELECT pg_wal_replay_pause()")
    await _add_artist(replicated_db, "Written Then Read")

    async def resume_soon() -> None:
        await asyncio.sleep(0.3)
        await replica_pair.on_replica("SELECT pg_wal_replay_resume()")

    resuming = asyncio.create_task(resume_soon())
    async with replicated_db.read_session() as session:
        assert await session.scalar(IN_RECOVERY) is True
        assert await session.scalar(ARTISTS_NAMED, {"name": "Written Then Read"}) == 1
    await resuming
    status = replicated_db.replica_status()
    assert status is not None
    assert (status.read_your_writes_waits, status.read_your_writes_fallbacks) == (1, 0)


async def test_a_read_whose_write_the_replica_has_not_replayed_in_time_reads_the_primary(
    replica_pair: ReplicaPair,
) -> None:
    await asyncio.to_thread(replica_pair.replica.start)
    await replica_pair.on_replica("SELECT pg_wal_replay_pause()")
    try:
        async with replica_pair.database(read_your_writes_wait_seconds=0.2) as db:
            assert await _where_reads_go(db) == "replica"
            await _add_artist(db, "Imported Just Now")
            # Every read until the replica replays it: from the primary, with the row.
            assert await _artists_named(db, "Imported Just Now") == 1
            assert await _where_reads_go(db) == "primary"
            status = db.replica_status()
            assert status is not None
            assert status.read_your_writes_fallbacks == 2
            # Another Database (another kernel) has no write to wait for: it reads the
            # replica as it is, which is what a replica is.
            async with replica_pair.database() as other:
                assert await _artists_named(other, "Imported Just Now") == 0
            await replica_pair.on_replica("SELECT pg_wal_replay_resume()")
            for _ in range(200):
                if await _where_reads_go(db) == "replica":
                    break
                await asyncio.sleep(0.02)
            assert await _artists_named(db, "Imported Just Now") == 1
            assert await _where_reads_go(db) == "replica"
    finally:
        await replica_pair.on_replica("SELECT pg_wal_replay_resume()")


async def test_every_write_path_is_waited_for(
    replicated_db: Database, replica_pair: ReplicaPair
) -> None:
    """Sessions, raw COPY transactions and the owner's reload path each note their
    commit; a read after each sees it although replay is paused (primary fallback)."""
    async with replica_pair.database(read_your_writes_wait_seconds=0.1) as db:
        await replica_pair.on_replica("SELECT pg_wal_replay_pause()")
        try:
            async with db.driver_transaction(write=True) as connection:
                await connection.execute(_INSERT_ARTIST.format(name="Via COPY path"))
            assert await _artists_named(db, "Via COPY path") == 1
            async with db.admin_transaction() as connection:
                await connection.execute(_INSERT_ARTIST.format(name="Via owner"))
            assert await _artists_named(db, "Via owner") == 1
            async with db.connection(write=True) as connection:
                await connection.execute(text(_INSERT_ARTIST.format(name="Via Core")))
                await connection.commit()
            assert await _artists_named(db, "Via Core") == 1
        finally:
            await replica_pair.on_replica("SELECT pg_wal_replay_resume()")


async def test_a_replica_too_far_behind_is_treated_as_down(replica_pair: ReplicaPair) -> None:
    await asyncio.to_thread(replica_pair.replica.start)
    async with replica_pair.database(replica_max_lag_seconds=0.3) as db:
        assert await _where_reads_go(db) == "replica"
        await replica_pair.on_replica("SELECT pg_wal_replay_pause()")
        try:
            async with replica_pair.database() as writer:  # someone else writes
                await _add_artist(writer, "Elsewhere")
            await asyncio.sleep(1.2)  # past the lag allowed and the probe interval
            assert await _where_reads_go(db) == "primary"
            status = db.replica_status()
            assert status is not None
            assert status.state == "down"
            assert "GALLERY_REPLICA_MAX_LAG_SECONDS" in (status.last_problem or "")
        finally:
            await replica_pair.on_replica("SELECT pg_wal_replay_resume()")
        await asyncio.sleep(RETRY_SECONDS + 0.1)
        assert await _where_reads_go(db) == "replica"


async def test_a_stopped_replica_falls_back_with_one_warning_and_comes_back(
    replica_pair: ReplicaPair, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(replica_pair.replica.start)
    caplog.set_level(logging.WARNING, logger="gallery_analytics.db.replicas")
    async with replica_pair.database() as db:
        assert await _where_reads_go(db) == "replica"

        async def slow_read(session: object) -> object:
            return await session.scalar(  # type: ignore[attr-defined]
                text("SELECT pg_is_in_recovery() FROM pg_sleep(1.5)")
            )

        reading = asyncio.create_task(db.run_read(slow_read))
        await asyncio.sleep(0.5)  # the read is running on the replica now
        await asyncio.to_thread(replica_pair.replica.stop)
        # The read that was cut off ran again on the primary, whole.
        assert await reading is False
        await asyncio.sleep(RETRY_SECONDS + 0.1)  # a read tries it again: cannot connect
        for _ in range(5):
            assert await _where_reads_go(db) == "primary"
        status = db.replica_status()
        assert status is not None
        # What /health/ready shows (no token needed) names no server; the log may.
        assert status.last_problem == "cannot be reached"
        downs = [r for r in caplog.records if "fall back to the primary" in r.getMessage()]
        assert len(downs) == 1, [r.getMessage() for r in caplog.records]
        assert "password" not in downs[0].getMessage()

        await asyncio.to_thread(replica_pair.replica.start)
        await asyncio.sleep(RETRY_SECONDS + 0.1)
        assert await _where_reads_go(db) == "replica"
        assert any("again" in r.getMessage() for r in caplog.records)


async def test_extracts_read_the_replica_and_wait_for_their_writes_too(
    replica_pair: ReplicaPair,
) -> None:
    await asyncio.to_thread(replica_pair.replica.start)
    async with replica_pair.database(read_your_writes_wait_seconds=0.1) as db:
        frame = await extract_frame(db, "SELECT pg_is_in_recovery() AS on_replica")
        assert frame["on_replica"].tolist() == [True]
        await replica_pair.on_replica("SELECT pg_wal_replay_pause()")
        try:
            await _add_artist(db, "Extracted At Once")
            frame = await extract_frame(
                db,
                "SELECT pg_is_in_recovery() AS on_replica, "
                "(SELECT count(*) FROM artists WHERE name = 'Extracted At Once') AS found",
            )
            assert frame.to_dict("records") == [{"on_replica": False, "found": 1}]
        finally:
            await replica_pair.on_replica("SELECT pg_wal_replay_resume()")


async def test_a_write_whose_position_cannot_be_read_keeps_reads_on_the_primary(
    replica_pair: ReplicaPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write committed, so it is not reported as failed; but with no position to wait
    for, the next reads go to the primary for the wait rather than to a replica that may
    not have it."""
    await asyncio.to_thread(replica_pair.replica.start)
    async with replica_pair.database(read_your_writes_wait_seconds=5) as db:
        assert await _where_reads_go(db) == "replica"
        await replica_pair.on_replica("SELECT pg_wal_replay_pause()")
        try:
            monkeypatch.setattr(
                "gallery_analytics.db.database.WRITTEN_LSN_SQL", "SELECT no_such_function()"
            )
            await _add_artist(db, "Position Unknown")  # no error: it committed
            assert await _artists_named(db, "Position Unknown") == 1
            assert await _where_reads_go(db) == "primary"
        finally:
            await replica_pair.on_replica("SELECT pg_wal_replay_resume()")


async def test_streams_and_partitions_read_the_replica(
    replica_pair: ReplicaPair, tmp_path: Path
) -> None:
    """iter_batches, extract_to_parquet and a partitioned extract (whose snapshot is
    exported on the standby) all read the replica, and partitions equal one stream."""
    await asyncio.to_thread(replica_pair.replica.start)
    query = "SELECT a.id, a.name, pg_is_in_recovery() AS on_replica FROM artists a"
    async with replica_pair.database() as db:
        single = await extract_frame(db, query)
        assert single["on_replica"].all()
        parts = await extract_frame(db, query, partitions=3, partition_by="id")
        assert parts["on_replica"].all()
        pdt.assert_frame_equal(
            parts.sort_values("id", ignore_index=True),
            single.sort_values("id", ignore_index=True),
        )
        batches = [frame async for frame in iter_batches(db, query, batch_rows=7)]
        assert all(frame["on_replica"].all() for frame in batches)
        assert sum(len(frame) for frame in batches) == len(single)
        written = await extract_to_parquet(db, query, tmp_path / "artists.parquet")
        table = await asyncio.to_thread(pq.read_table, tmp_path / "artists.parquet")
        assert written.rows == len(single)
        assert all(table.column("on_replica").to_pylist())


async def test_the_schema_check_reads_the_primary(
    replicated_db: Database, replica_pair: ReplicaPair
) -> None:
    """The schema changed on the primary and the replica has not replayed it: the check
    sees the primary's. (It read the replica: right after `connect()` upgraded a fresh
    embedded server, `seed` then said the database had no gallery schema.)"""
    await replica_pair.on_replica("SELECT pg_wal_replay_pause()")
    try:
        await replica_pair.on_primary("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        with pytest.raises(SchemaOutdatedError, match="ffffffffffff"):
            await check_schema(replicated_db)
        assert await _where_reads_go(replicated_db) == "replica"  # which still says head
    finally:
        await replica_pair.on_primary(f"UPDATE alembic_version SET version_num = '{HEAD_REVISION}'")
        await replica_pair.on_replica("SELECT pg_wal_replay_resume()")
    await check_schema(replicated_db)
