"""Create the gallery schema (idempotent)."""

from __future__ import annotations

from sqlalchemy import text

from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Base

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
