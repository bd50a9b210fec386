"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

from sqlalchemy import text

from gallery_analytics.db.database import Database
from gallery_analytics.demo.generate import TABLE_ORDER


async def table_checksums(db: Database) -> dict[str, str]:
    """md5 over every row of every gallery table, in primary-key order."""
    checksums: dict[str, str] = {}
    async with db.read_session() as session:
        for table in TABLE_ORDER:
            key = await session.scalar(
                text(
                    "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) "
                    "FROM pg_index i JOIN pg_attribute a "
                    "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = CAST(:table AS regclass) AND i.indisprimary"
                ),
                {"table": table},
            )
            checksums[table] = await session.scalar(
                text(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY {key}), '')) "
                    f"FROM {table} AS t"
                )
            )
    return checksums


async def count_rows(db: Database, table: str, where: str = "TRUE", **params: object) -> int:
    async with db.read_session() as session:
        return int(
            await session.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"), params) or 0
        )
