"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from gallery_analytics.db.database import Database
from gallery_analytics.demo.generate import TABLE_ORDER
from gallery_analytics.imports import ImportReport, import_collection

SAMPLE_COLLECTION = Path(__file__).parent / "data" / "collection"
SAMPLE_ARTISTS = SAMPLE_COLLECTION / "artists.csv"
SAMPLE_ARTWORKS = SAMPLE_COLLECTION / "artworks.csv"


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


async def fetch_rows(db: Database, sql: str) -> list[dict[str, object]]:
    """Every row of ``sql`` (read session) as a dict."""
    async with db.read_session() as session:
        return [dict(row) for row in (await session.execute(text(sql))).mappings()]


async def import_sample(db: Database, *, source: str = "sample", **options: object) -> ImportReport:
    """import_collection on the sample collection, quietly; ``options`` override."""
    arguments: dict[str, object] = {
        "artists_csv": SAMPLE_ARTISTS,
        "artworks_csv": SAMPLE_ARTWORKS,
        "source": source,
        "progress": False,
        **options,
    }
    return await import_collection(db, **arguments)  # type: ignore[arg-type]
