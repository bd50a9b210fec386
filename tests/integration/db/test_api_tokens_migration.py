"""Revision 0004 (api_tokens): upgrading a database at 0003 adds the table readable by
both application roles and writable by neither (a write token reaches the database as
the writer, and must never mint a token); downgrading to 0003 removes only it, and
upgrading again restores it with the same privileges."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy.engine import URL

from gallery_analytics.db.roles import APP_ROLES
from gallery_analytics.db.schema import alembic_config, upgrade_schema
from tests.integration.db.test_migrations import _fetch, new_database, revisions

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
READ_ONLY = {"SELECT": True, "INSERT": False, "UPDATE": False, "DELETE": False, "TRUNCATE": False}


async def _privileges(url: URL, role: str) -> dict[str, bool]:
    rows = await _fetch(
        url,
        "SELECT "
        + ", ".join(
            f"has_table_privilege('{role}', 'api_tokens', '{privilege}')"
            for privilege in PRIVILEGES
        ),
    )
    return dict(zip(PRIVILEGES, rows[0], strict=True))


async def _assert_owner_writes_only(url: URL) -> None:
    assert await _privileges(url, APP_ROLES.reader) == READ_ONLY
    assert await _privileges(url, APP_ROLES.writer) == READ_ONLY
    # The writer keeps its writes on every other table (the revoke is that narrow).
    assert (await _fetch(url, f"SELECT has_table_privilege('{APP_ROLES.writer}', "
                              "'exchange_rates', 'INSERT')")) == [(True,)]  # fmt: skip


async def test_revision_0004_adds_api_tokens_written_only_by_the_owner(server_url: URL) -> None:
    async with new_database(server_url) as db:
        await asyncio.to_thread(command.upgrade, alembic_config(db.admin_url), "0003")
        assert await _fetch(db.admin_url, "SELECT to_regclass('api_tokens')") == [(None,)]
        await _fetch(
            db.admin_url,
            "INSERT INTO exchange_rates (currency, month, rate) VALUES ('USD', '2024-03-01', 0.9)",
        )

        await upgrade_schema(db.admin_url, revision="0004")
        assert await revisions(db.admin_url) == ["0004"]
        await _assert_owner_writes_only(db.admin_url)

        await asyncio.to_thread(command.downgrade, alembic_config(db.admin_url), "0003")
        assert await revisions(db.admin_url) == ["0003"]
        assert await _fetch(db.admin_url, "SELECT to_regclass('api_tokens')") == [(None,)]
        assert await _fetch(db.admin_url, "SELECT currency FROM exchange_rates") == [("USD",)]

        await upgrade_schema(db.admin_url, revision="0004")
        await _assert_owner_writes_only(db.admin_url)
