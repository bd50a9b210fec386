"""A pooled connection is handed out only alive, without a round trip when it was just
used: a backend that went away (terminated, server restarted) is replaced unseen."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import URL

from gallery_analytics.db import database as database_module
from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.db.database import APPLICATION_NAME, Database


async def _terminate_app_backends(server_url: URL, db: Database) -> int:
    """Terminate the workbench's backends on ``db`` and wait until they are gone
    (pg_terminate_backend only signals them), as after a server's restart."""
    connection = await asyncpg.connect(driver_dsn(server_url, database=db.url.database))
    query = "FROM pg_stat_activity WHERE datname = $1 AND application_name = $2"
    try:
        terminated = int(
            await connection.fetchval(
                f"SELECT count(pg_terminate_backend(pid)) {query}",
                db.url.database,
                APPLICATION_NAME,
            )
        )
        for _ in range(200):
            if not await connection.fetchval(
                f"SELECT count(*) {query}", db.url.database, APPLICATION_NAME
            ):
                break
            await asyncio.sleep(0.05)
        return terminated
    finally:
        await connection.close()


async def _backend_pids(db: Database, sessions: int) -> set[int]:
    async def one() -> int:
        async with db.read_session() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            await asyncio.sleep(0.05)  # hold it, so the others take other connections
            return int(pid or 0)

    return set(await asyncio.gather(*(one() for _ in range(sessions))))


@pytest.mark.parametrize("idle_seconds", [0.0, 1.5])
async def test_terminated_backends_are_replaced_on_checkout(
    fresh_db: Database, server_url: URL, idle_seconds: float
) -> None:
    """Just used (the driver saw the socket close) and idle (pinged) alike."""
    before = await _backend_pids(fresh_db, 3)
    assert await _terminate_app_backends(server_url, fresh_db) >= 3
    await asyncio.sleep(idle_seconds)
    after = await _backend_pids(fresh_db, 3)  # no error: every dead one was replaced
    assert not before & after


async def test_a_connection_is_pinged_only_after_an_idle_spell(
    fresh_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = 0
    original = AsyncAdapt_asyncpg_connection.ping

    def counted(self: AsyncAdapt_asyncpg_connection) -> None:
        nonlocal pings
        pings += 1
        original(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    for _ in range(5):  # back to back: no round trip before each
        async with fresh_db.read_session() as session:
            await session.execute(text("SELECT 1"))
    assert pings == 0
    await asyncio.sleep(database_module.PING_AFTER_IDLE_SECONDS + 0.3)
    async with fresh_db.read_session() as session:
        await session.execute(text("SELECT 1"))
    assert pings == 1
