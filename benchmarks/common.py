"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics.config import Settings
from gallery_analytics.db.admin import create_database, database_exists
from gallery_analytics.db.connect import application_database, embedded_server_url
from gallery_analytics.db.database import Database
from gallery_analytics.db.roles import provision_database
from gallery_analytics.db.schema import upgrade_schema
from gallery_analytics.demo.load import resolve_size, seed_demo
from gallery_analytics.domain.filters import OverviewFilters

SCRATCH_DATABASE = "gallery_bench_dashboard_{size}"


async def server_url(settings: Settings) -> URL:
    """GALLERY_DATABASE_URL's server (a superuser URL), else the embedded one (started if
    needed)."""
    return settings.database_url or await embedded_server_url(settings)


async def application_scratch_database(server: URL, name: str, settings: Settings) -> Database:
    """``name`` with the application roles and the schema at head; used as the
    application uses a database (writer, SELECT-only reader, owner for reloads)."""
    await provision_database(server, name)
    db = application_database(server, name, settings=settings)
    await upgrade_schema(db.admin_url)
    return db


async def scratch_database(server: URL, size: str, settings: Settings) -> Database:
    """A scratch database seeded with demo data of ``size``, seeded only when needed."""
    expected = resolve_size(size).artworks
    name = SCRATCH_DATABASE.format(size=size)
    if not await database_exists(server, name):
        await create_database(server, name)
    db = await application_scratch_database(server, name, settings)
    async with db.read_session() as session:
        artworks = await session.scalar(text("SELECT count(*) FROM artworks"))
    if artworks != expected:
        print(f"seeding {size} demo data into {name} (once)...")
        report = await seed_demo(db, size=size, progress=False)
        print(report.summary())
    return db


def percentile(values: list[float], share: float) -> float:
    """The value at ``share`` (0.5: the median, 0.95: p95) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def distinct_filter_sets() -> Iterator[OverviewFilters]:
    """Overview filters that never repeat within a run (so every cache entry is cold): a
    year from a month of 2015-2024, a day longer for each 120 sets, top_n 5 to 24."""
    index = 0
    while True:
        start = dt.date(2015 + (index // 12) % 10, 1 + index % 12, 1)
        end = start + dt.timedelta(days=365 + index // 120)
        yield OverviewFilters(start=start, end=end, top_n=5 + index % 20)
        index += 1
