"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics.config import Settings
from gallery_analytics.db.admin import create_database, database_exists
from gallery_analytics.db.connect import embedded_url
from gallery_analytics.db.database import Database
from gallery_analytics.db.schema import create_schema
from gallery_analytics.demo.load import resolve_size, seed_demo

SCRATCH_DATABASE = "gallery_bench_dashboard_{size}"


async def server_url(settings: Settings) -> URL:
    """GALLERY_DATABASE_URL's server, else the embedded one (started if needed)."""
    return settings.database_url or await embedded_url(settings)


async def scratch_database(server: URL, size: str, settings: Settings) -> Database:
    """A scratch database seeded with demo data of ``size``, seeded only when needed."""
    expected = resolve_size(size).artworks
    name = SCRATCH_DATABASE.format(size=size)
    if not await database_exists(server, name):
        await create_database(server, name)
    db = Database(server.set(database=name), settings=settings)
    await create_schema(db)
    async with db.read_session() as session:
        artworks = await session.scalar(text("SELECT count(*) FROM artworks"))
    if artworks != expected:
        print(f"seeding {size} demo data into {name} (once)...")
        report = await seed_demo(db, size=size, progress=False)
        print(report.summary())
    return db
