"""Revision 0005 (data_version): every write to a data table bumps the version in the
writing transaction, whichever path wrote (ORM insert, raw UPDATE/DELETE, COPY, TRUNCATE);
a rolled-back write leaves it as it was; no application role can set it; downgrading to
0004 removes it and upgrading again restores it."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.db.database import Database
from gallery_analytics.db.roles import APP_ROLES
from gallery_analytics.db.schema import alembic_config, upgrade_schema
from gallery_analytics.errors import GalleryAnalyticsError
from tests.integration.db.test_migrations import _fetch, new_database, revisions

_READ_VERSION = "SELECT version FROM data_version"


async def _version(db: Database) -> int:
    async with db.read_session() as session:
        version = await session.scalar(text(_READ_VERSION))
    assert isinstance(version, int)
    return version


async def _as_writer(db: Database, *statements: str) -> None:
    async with db.write_session() as session:
        for statement in statements:
            await session.execute(text(statement))


async def test_every_write_path_bumps_the_version_with_its_transaction(server_url: URL) -> None:
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url, revision="0005")
        start = await _version(db)

        await _as_writer(db, "INSERT INTO users (id, email, display_name) VALUES "
                             "(gen_random_uuid(), 'a@example.org', 'A')")  # fmt: skip
        assert await _version(db) == start + 1
        # Two statements in one transaction: bumped twice, seen once it commits.
        await _as_writer(
            db, "UPDATE users SET display_name = 'B'", "DELETE FROM users WHERE email = 'x'"
        )
        assert await _version(db) == start + 3

        # A rolled-back write leaves the version as it was.
        with pytest.raises(RuntimeError):
            async with db.write_session() as session:
                await session.execute(text("UPDATE users SET display_name = 'C'"))
                raise RuntimeError("changed my mind")
        assert await _version(db) == start + 3

        # COPY (imports and seeds) and TRUNCATE (demo reloads) bump it too.
        async with db.driver_transaction(write=True) as connection:
            await connection.copy_records_to_table(
                "exchange_rates", records=[("USD", dt.date(2024, 3, 1), 0.9)]
            )
        assert await _version(db) == start + 4
        async with db.admin_transaction() as connection:
            await connection.execute("TRUNCATE exchange_rates")
        assert await _version(db) == start + 5


@pytest.mark.parametrize("role", [APP_ROLES.writer, APP_ROLES.reader])
async def test_no_application_role_can_set_the_version(server_url: URL, role: str) -> None:
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url, revision="0005")
        url = db.url if role == APP_ROLES.writer else db.read_url
        connection = await asyncpg.connect(driver_dsn(url))
        try:
            for statement in (
                "UPDATE data_version SET version = 1",
                "DELETE FROM data_version",
                "INSERT INTO data_version (id, version) VALUES (false, 1)",
                "SELECT bump_data_version()",
            ):
                with pytest.raises(asyncpg.PostgresError):
                    await connection.execute(statement)
        finally:
            await connection.close()
        assert await _fetch(db.admin_url, _READ_VERSION) == [(1,)]


async def test_revision_0005_round_trip(server_url: URL) -> None:
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url, revision="0005")
        await asyncio.to_thread(command.downgrade, alembic_config(db.admin_url), "0004")
        assert await revisions(db.admin_url) == ["0004"]
        assert await _fetch(db.admin_url, "SELECT to_regclass('data_version')") == [(None,)]
        # No trigger left behind:
        await _as_writer(db, "UPDATE users SET display_name = display_name")
        await upgrade_schema(db.admin_url, revision="0005")
        assert await _fetch(db.admin_url, _READ_VERSION) == [(1,)]
        with pytest.raises(GalleryAnalyticsError):  # still the owner's alone
            await _as_writer(db, "UPDATE data_version SET version = 7")
