"""Create the gallery schema (idempotent)."""

from __future__ import annotations

from sqlalchemy import text

from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Base

# Columns added after the first schema: create_all creates missing tables but never
# alters existing ones, so each addition is an idempotent statement here.
UPGRADES = (
    "ALTER TABLE artists ADD COLUMN IF NOT EXISTS place_of_birth VARCHAR(300)",
    "ALTER TABLE artists ADD COLUMN IF NOT EXISTS source VARCHAR(100)",
    "ALTER TABLE artists ADD COLUMN IF NOT EXISTS source_id VARCHAR(200)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_artists_source_source_id ON artists (source, source_id)",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS depth_cm NUMERIC(10, 2)",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS year_text TEXT",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS accession_number VARCHAR(100)",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS credit_line TEXT",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS source VARCHAR(100)",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS source_id VARCHAR(200)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_artworks_source_source_id "
    "ON artworks (source, source_id)",
)

# Any constant works; it only has to be the same for every process creating the schema.
_SCHEMA_LOCK_KEY = 7_151_931


async def create_schema(db: Database) -> None:
    """Create missing tables, types and indexes; existing ones are left as they are.

    An advisory lock serialises concurrent callers (two notebooks starting at once),
    which would otherwise race on CREATE TYPE.
    """
    async with db.connection(write=True) as connection, connection.begin():
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY}
        )
        await connection.run_sync(Base.metadata.create_all)
        for statement in UPGRADES:  # databases created before these columns existed
            await connection.execute(text(statement))
