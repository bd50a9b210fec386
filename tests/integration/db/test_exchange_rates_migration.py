"""Revision 0003 (exchange_rates): upgrading a database at 0002 adds the table with the
privileges of every other table (the reader may only read it, the writer may write rows),
its checks refuse rates that cannot be true, and downgrading to 0002 removes only it."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics.db.roles import APP_ROLES
from gallery_analytics.db.schema import alembic_config, upgrade_schema
from gallery_analytics.errors import ConstraintViolationError
from tests.integration.db.test_migrations import _fetch, new_database, revisions

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")


async def _privileges(url: URL, role: str) -> dict[str, bool]:
    rows = await _fetch(
        url,
        "SELECT "
        + ", ".join(
            f"has_table_privilege('{role}', 'exchange_rates', '{privilege}')"
            for privilege in PRIVILEGES
        ),
    )
    return dict(zip(PRIVILEGES, rows[0], strict=True))


async def test_revision_0003_adds_exchange_rates_granted_like_the_other_tables(
    server_url: URL,
) -> None:
    async with new_database(server_url) as db:
        await asyncio.to_thread(command.upgrade, alembic_config(db.admin_url), "0002")
        assert await _fetch(db.admin_url, "SELECT to_regclass('exchange_rates')") == [(None,)]
        await _fetch(
            db.admin_url,
            "INSERT INTO gallery_dataset (id, description) VALUES (true, 'kept')",
        )

        await upgrade_schema(db.admin_url, revision="0003")
        assert await revisions(db.admin_url) == ["0003"]
        assert await _privileges(db.admin_url, APP_ROLES.reader) == {
            "SELECT": True,
            "INSERT": False,
            "UPDATE": False,
            "DELETE": False,
        }
        assert all((await _privileges(db.admin_url, APP_ROLES.writer)).values())

        async with db.driver_transaction(write=True) as connection:
            await connection.execute(
                "INSERT INTO exchange_rates (currency, month, rate) VALUES "
                "('USD', '2024-03-01', 0.92), ('EUR', '2024-03-01', 1)"
            )
        for values, check in [
            ("('USD', '2024-04-01', 0)", "rate_positive"),
            ("('USD', '2024-04-02', 0.9)", "month_first_day"),
            ("('usd', '2024-04-01', 0.9)", "currency_iso_4217"),
            ("('EUR', '2024-04-01', 1.1)", "base_currency_is_one"),
        ]:
            with pytest.raises(ConstraintViolationError, match=check):
                async with db.driver_transaction(write=True) as connection:
                    await connection.execute(
                        f"INSERT INTO exchange_rates (currency, month, rate) VALUES {values}"
                    )
        async with db.read_session() as session:
            rates = (await session.execute(text("SELECT currency, rate FROM exchange_rates"))).all()
        assert sorted((code, float(rate)) for code, rate in rates) == [
            ("EUR", 1.0),
            ("USD", 0.92),
        ]

        await asyncio.to_thread(command.downgrade, alembic_config(db.admin_url), "0002")
        assert await revisions(db.admin_url) == ["0002"]
        assert await _fetch(db.admin_url, "SELECT to_regclass('exchange_rates')") == [(None,)]
        assert await _fetch(db.admin_url, "SELECT description FROM gallery_dataset") == [("kept",)]
