"""Reads on a streaming replica, side by side with reads on the primary, and the
read-your-writes wait after an import.

A primary and its replica of their own (``.gallery/bench-replica``: the project's
``EmbeddedPostgres`` and ``EmbeddedReplica``, seeded with the medium demo data once), so
the developer's embedded server is left as it is.

(a) 50 concurrent overview loads with distinct filters on a pool of 10 (every panel
    computed: nothing is cached for filters not seen before): dashboards/s and p50/p95,
    reads on the primary vs reads on the replica. On one 2-core machine both servers share
    the cores, so the replica cannot add capacity here; the figure says what routing
    and the replica's hot-standby costs, not what a second machine would add.
(b) Read-your-writes: an import of the test collection (2 CSVs) through a Database, then
    at once the first read through it: how long that read waited for the replica to
    replay the import (p50, p95), against the same read with no write before it.

    .venv/bin/python benchmarks/replica.py [--loads 50] [--pool 10] [--rounds 3] [--imports 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from pathlib import Path

from common import distinct_filter_sets, percentile
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gallery_analytics.config import PoolSettings, Settings, default_embedded_dir
from gallery_analytics.db.admin import create_database, database_exists
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres, EmbeddedReplica
from gallery_analytics.db.roles import provision_database, role_urls
from gallery_analytics.db.schema import upgrade_schema
from gallery_analytics.demo.load import resolve_size, seed_demo
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.imports import import_collection
from gallery_analytics.services.dashboard import DashboardService

DATABASE = "gallery"
COLLECTION = Path(__file__).resolve().parents[1] / "tests" / "data" / "collection"


def start_pair() -> tuple[str, str]:
    base = default_embedded_dir() / "bench-replica"
    primary = EmbeddedPostgres(base)
    replica = EmbeddedReplica(base)
    primary_url = primary.start()
    return primary_url, replica.start()


async def prepare(primary_url: str, size: str) -> None:
    server = make_url(primary_url)
    if not await database_exists(server, DATABASE):
        await create_database(server, DATABASE)
    await provision_database(server, DATABASE)
    urls = role_urls(server, DATABASE)
    await upgrade_schema(urls.owner)
    async with Database(urls.writer, read_url=urls.reader, admin_url=urls.owner) as db:
        async with db.read_session() as session:
            artworks = await session.scalar(text("SELECT count(*) FROM artworks"))
        if artworks != resolve_size(size).artworks:
            print(f"seeding {size} demo data into the benchmark's primary (once)...")
            print((await seed_demo(db, size=size, progress=False)).summary())


def database(primary_url: str, replica_url: str | None, settings: Settings) -> Database:
    primary = role_urls(make_url(primary_url), DATABASE)
    replica = None if replica_url is None else role_urls(make_url(replica_url), DATABASE)
    return Database(
        primary.writer,
        read_url=primary.reader,
        admin_url=primary.owner,
        replica_url=None if replica is None else replica.reader,
        settings=settings,
    )


async def distinct_loads(contenders: dict[str, Database], loads: int, rounds: int) -> None:
    print(f"\n(a) {loads} concurrent overview loads with distinct filters")
    print(f"  {'reads on':<22} {'round':>5} {'dashboards/s':>13} {'p50 ms':>8} {'p95 ms':>8}")
    filter_sets = distinct_filter_sets()
    for round_number in range(1, rounds + 1):  # interleaved: noise hits both alike
        for name, db in contenders.items():
            service = DashboardService(db)
            sets = list(itertools.islice(filter_sets, loads))

            async def one(filters: OverviewFilters, service: DashboardService = service) -> float:
                started = time.perf_counter()
                overview = await service.get_gallery_overview(filters, refresh=True)
                assert not overview.failed, overview.failed
                return time.perf_counter() - started

            started = time.perf_counter()
            latencies = list(await asyncio.gather(*(one(f) for f in sets)))
            wall = time.perf_counter() - started
            print(
                f"  {name:<22} {round_number:>5} {loads / wall:>13.1f} "
                f"{percentile(latencies, 0.5) * 1000:>8.0f} "
                f"{percentile(latencies, 0.95) * 1000:>8.0f}"
            )


async def read_after_import(db: Database, imports: int) -> None:
    print(f"\n(b) read-your-writes: the first read after an import, {imports} times")
    probe = text("SELECT count(*) FROM artists")
    after_write: list[float] = []
    quiet: list[float] = []
    for _ in range(imports):
        await import_collection(
            db,
            artists_csv=COLLECTION / "artists.csv",
            artworks_csv=COLLECTION / "artworks.csv",
            source="bench-replica",
            force=True,
            progress=False,
        )
        started = time.perf_counter()
        async with db.read_session() as session:
            await session.scalar(probe)
        after_write.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        async with db.read_session() as session:
            await session.scalar(probe)
        quiet.append(time.perf_counter() - started)
    status = db.replica_status()
    assert status is not None
    for label, values in (("right after an import", after_write), ("no write before", quiet)):
        print(
            f"  {label:<24} p50 {percentile(values, 0.5) * 1000:7.1f} ms   "
            f"p95 {percentile(values, 0.95) * 1000:7.1f} ms"
        )
    print(
        f"  waits for replay: {status.read_your_writes_waits}, of which fell back to the "
        f"primary: {status.read_your_writes_fallbacks}; replica {status.state}"
    )
    print(
        f"  median extra wait per read after an import: "
        f"{(statistics.median(after_write) - statistics.median(quiet)) * 1000:.1f} ms"
    )


async def main(loads: int, pool: int, rounds: int, imports: int, size: str) -> None:
    primary_url, replica_url = await asyncio.to_thread(start_pair)
    await prepare(primary_url, size)
    settings = Settings(pool=PoolSettings(size=pool, max_overflow=0, timeout_seconds=60))
    contenders = {
        "primary (no replica)": database(primary_url, None, settings),
        "replica": database(primary_url, replica_url, settings),
    }
    try:
        await distinct_loads(contenders, loads, rounds)
        await read_after_import(contenders["replica"], imports)
    finally:
        for db in contenders.values():
            await db.dispose()
    print(
        "\nthe benchmark's servers keep running (.gallery/bench-replica); stop them with "
        "`GALLERY_EMBEDDED_DIR=.gallery/bench-replica gallery-analytics db stop`"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=50)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--imports", type=int, default=20)
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    arguments = parser.parse_args()
    asyncio.run(
        main(arguments.loads, arguments.pool, arguments.rounds, arguments.imports, arguments.size)
    )
