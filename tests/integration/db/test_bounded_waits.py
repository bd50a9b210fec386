"""Waits are bounded, and only the database's silence is reported as the database's.

A caller's own ``asyncio.timeout`` inside a session stays the caller's TimeoutError (the
connection is healthy and kept); a panel budget the connection's client-side bound could
not keep is refused up front.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from gallery_analytics import DashboardService, Database
from gallery_analytics.errors import DatabaseNotAnsweringError, ValidationError


@pytest.mark.parametrize("side", ["read", "write", "connection"])
async def test_a_callers_own_timeout_is_not_blamed_on_the_database(
    fresh_db: Database, side: str
) -> None:
    with pytest.raises(TimeoutError) as caught:
        if side == "connection":
            async with fresh_db.connection() as connection, asyncio.timeout(0.2):
                await connection.execute(text("SELECT pg_sleep(5)"))
        else:
            opened = fresh_db.read_session if side == "read" else fresh_db.write_session
            async with opened() as session, asyncio.timeout(0.2):
                await session.execute(text("SELECT pg_sleep(5)"))
    assert not isinstance(caught.value, DatabaseNotAnsweringError)
    assert fresh_db.pool_status()["checked_out"] == 0
    async with fresh_db.read_session() as session:
        assert await session.scalar(text("SELECT 1")) == 1


async def test_a_panel_budget_beyond_the_statement_timeout_is_refused(
    seeded_db: Database,
) -> None:
    limit = seeded_db.settings.statement_timeout_seconds
    service = DashboardService(seeded_db)
    with pytest.raises(ValidationError, match="GALLERY_STATEMENT_TIMEOUT_SECONDS") as caught:
        await service.get_gallery_overview(
            panels=["key_figures"], timeouts={"key_figures": limit + 1}
        )
    assert caught.value.field == "timeouts.key_figures"
    with pytest.raises(ValidationError, match="at most"):
        DashboardService(seeded_db, panel_timeout_seconds=limit * 2)
    overview = await service.get_gallery_overview(
        panels=["key_figures"], timeouts={"key_figures": limit}
    )
    assert overview["key_figures"].status == "ok"
