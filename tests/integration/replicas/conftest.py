"""A primary and its streaming replica, from the project's own embedded-server code
(``EmbeddedReplica``: pg_basebackup from the same binaries), with the small demo data.

Module-scoped: tests here stop, pause and slow the replica, so each module gets a pair
of its own, and every test starts from a running replica that replays normally.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from gallery_analytics.config import Settings
from gallery_analytics.db.admin import create_database, driver_dsn
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres, EmbeddedReplica
from gallery_analytics.db.roles import provision_database, role_urls
from gallery_analytics.db.schema import upgrade_schema
from gallery_analytics.demo.generate import DEFAULT_SEED
from gallery_analytics.demo.load import seed_demo

DATABASE = "gallery"


@dataclass
class ReplicaPair:
    primary: EmbeddedPostgres
    replica: EmbeddedReplica
    # Superuser URLs (each server's socket directory does not change across restarts).
    primary_url: URL
    replica_url: URL

    def database(self, **settings: object) -> Database:
        """A Database as `connect()` builds one: writer and reader on the primary, reader
        on the replica, owner for reloads."""
        primary = role_urls(self.primary_url, DATABASE)
        replica = role_urls(self.replica_url, DATABASE)
        return Database(
            primary.writer,
            read_url=primary.reader,
            admin_url=primary.owner,
            replica_url=replica.reader,
            settings=Settings(**settings),  # type: ignore[arg-type]
        )

    async def on_replica(self, sql: str) -> object:
        """Run ``sql`` as the replica's superuser (pause/resume replay, settings)."""
        return await _as_superuser(self.replica_url, sql)

    async def on_primary(self, sql: str) -> object:
        """Run ``sql`` as the primary's superuser, past the application's roles."""
        return await _as_superuser(self.primary_url, sql)


async def _as_superuser(server_url: URL, sql: str) -> object:
    connection = await asyncpg.connect(driver_dsn(server_url, database=DATABASE))
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def replica_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaPair]:
    base = Path(tmp_path_factory.mktemp("replicated-pg"))
    primary = EmbeddedPostgres(base)
    replica = EmbeddedReplica(base)
    server_url = make_url(primary.start())

    async def prepare() -> None:
        await create_database(server_url, DATABASE)
        await provision_database(server_url, DATABASE)
        owner = role_urls(server_url, DATABASE).owner
        await upgrade_schema(owner)
        async with Database(role_urls(server_url, DATABASE).writer, admin_url=owner) as db:
            await seed_demo(db, size="small", seed=DEFAULT_SEED, progress=False)

    try:
        replica_url = make_url(replica.start())  # before the seed: it arrives by streaming
        asyncio.run(prepare())
        yield ReplicaPair(primary, replica, server_url, replica_url)
    finally:
        replica.stop()
        primary.stop()


@pytest.fixture
async def replicated_db(replica_pair: ReplicaPair) -> AsyncIterator[Database]:
    """A Database reading from the pair's replica, which replays normally at the start
    (a test that stopped or paused it is undone here)."""
    await asyncio.to_thread(replica_pair.replica.start)
    await replica_pair.on_replica("SELECT pg_wal_replay_resume()")
    async with replica_pair.database(read_your_writes_wait_seconds=2.0) as db:
        yield db
