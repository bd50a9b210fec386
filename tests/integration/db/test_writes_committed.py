"""``Database.writes_committed`` moves after every write path ends, and not for reads:
what the panel cache's copy of the data version relies on to notice this process's own
writes at once."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gallery_analytics.db.database import Database

_TOUCH = "UPDATE gallery_dataset SET description = description"


async def test_each_write_path_moves_the_count_and_reads_do_not(fresh_db: Database) -> None:
    db = fresh_db
    before = db.writes_committed
    async with db.read_session() as session:
        await session.execute(text("SELECT 1"))
    async with db.driver_transaction() as connection:
        await connection.fetchval("SELECT 1")
    assert db.writes_committed == before

    async with db.write_session() as session:
        await session.execute(text(_TOUCH))
    assert db.writes_committed == before + 1
    async with db.driver_transaction(write=True) as connection:
        await connection.execute(_TOUCH)
    assert db.writes_committed == before + 2
    async with db.admin_transaction() as connection:
        await connection.execute(_TOUCH)
    assert db.writes_committed == before + 3

    # A write that is rolled back is no write.
    with pytest.raises(RuntimeError):
        async with db.write_session() as session:
            await session.execute(text(_TOUCH))
            raise RuntimeError("changed my mind")
    assert db.writes_committed == before + 3
