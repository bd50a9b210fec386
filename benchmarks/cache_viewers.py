"""The shared panel cache under load: many viewers of one dashboard, many distinct ones.

(a) 200 concurrent viewers of the same filters (medium data, a pool of 10): dashboards/s,
    p50/p95 per load, and how many times each panel's query reached PostgreSQL (counted
    as statements this process sent; target: at most one per panel, >= 500 dashboards/s).
    The first round starts cold (filters no earlier round used), later rounds are warm.
(b) 50 concurrent loads with DISTINCT filters on a pool of 10 (every entry cold):
    dashboards/s and p50/p95 (target >= 100 dashboards/s; the cache cannot help here, the
    queries (rollups) must).

Contenders, side by side in one run: no cache (the registry's panels as copies outside
the registry, which the service never caches), the in-process memory cache, and Redis
(Debian's redis-server started here on a loopback port; skipped if it is missing).

    .venv/bin/python benchmarks/cache_viewers.py [--viewers 200] [--distinct 50] \
        [--pool 10] [--rounds 3] [--size medium]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from common import distinct_filter_sets, percentile, scratch_database, server_url
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Engine

from gallery_analytics.config import PoolSettings, Settings
from gallery_analytics.db.database import Database
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.panels import PANELS
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.panel_cache import close_panel_caches

UNCACHED = [dataclasses.replace(panel) for panel in PANELS]  # not the registry's objects
_fresh_top_n = itertools.count(11)


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is missing (make redis installs it): Redis column skipped")
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        server = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", directory,
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(200):
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection,
                ):
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait()


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def panel_statements(seen: list[str], filters: OverviewFilters, today: Any) -> int:
    """The most times any one panel's query was sent for ``filters``."""
    dialect = PGDialect_asyncpg()
    resolved = filters.model_copy(update={"today": filters.today or today})
    texts = {str(panel.query(resolved).compile(dialect=dialect)) for panel in PANELS}
    return max(seen.count(sql) for sql in texts)


FAILURES: list[str] = []


async def timed(service: DashboardService, filters: OverviewFilters, cached: bool) -> float:
    """One load's seconds; its failed panels (a timeout, no free connection) are noted."""
    started = time.perf_counter()
    overview = await service.get_gallery_overview(filters, panels=None if cached else UNCACHED)
    FAILURES.extend(f"{p.name}: {p.status} {p.error}" for p in overview.failed)
    return time.perf_counter() - started


def failures() -> str:
    """Failed panels since the last call (expected: none)."""
    if not FAILURES:
        return ""
    text = f"   FAILED PANELS {len(FAILURES)} (first: {FAILURES[0][:120]})"
    FAILURES.clear()
    return text


def line(label: str, loads: int, wall: float, latencies: list[float], extra: str = "") -> str:
    p50 = statistics.median(latencies) * 1000
    p95 = percentile(latencies, 0.95) * 1000
    rate = loads / wall
    return f"  {label:<28} {rate:8.1f} dashboards/s   p50 {p50:7.1f} ms   p95 {p95:7.1f} ms{extra}"


async def same_filters(
    contenders: dict[str, Database], viewers: int, rounds: int, today: Any
) -> None:
    print(f"\n(a) {viewers} concurrent viewers of the same filters")
    for name, db in contenders.items():
        service = DashboardService(db)
        cached = name != "no cache"
        filters = OverviewFilters(start="2024-01-01", end="2024-12-31", top_n=next(_fresh_top_n))
        for round_number in range(1, rounds + 1):
            with statements() as seen:
                started = time.perf_counter()
                latencies = await asyncio.gather(
                    *(timed(service, filters, cached) for _ in range(viewers))
                )
                wall = time.perf_counter() - started
            state = "cold" if round_number == 1 else "warm"
            reached = panel_statements(seen, filters, today)
            print(
                line(
                    f"{name}, round {round_number} ({state})",
                    viewers,
                    wall,
                    list(latencies),
                    f"   queries per panel reaching PostgreSQL: {reached}{failures()}",
                )
            )


async def distinct_filters(contenders: dict[str, Database], loads: int, rounds: int) -> None:
    print(f"\n(b) {loads} concurrent loads with distinct filters (every entry cold)")
    filter_sets = distinct_filter_sets()
    for name, db in contenders.items():
        service = DashboardService(db)
        cached = name != "no cache"
        for round_number in range(1, rounds + 1):
            sets = list(itertools.islice(filter_sets, loads))
            started = time.perf_counter()
            latencies = await asyncio.gather(*(timed(service, f, cached) for f in sets))
            wall = time.perf_counter() - started
            print(line(f"{name}, round {round_number}", loads, wall, list(latencies), failures()))


async def main(viewers: int, distinct: int, pool: int, rounds: int, size: str) -> None:
    settings = Settings.from_env()
    scratch = await scratch_database(await server_url(settings), size, settings)
    await scratch.dispose()
    bounded = Settings(pool=PoolSettings(size=pool, max_overflow=0, timeout_seconds=60))
    with redis_server() as redis_url:
        contenders = {
            name: Database(
                scratch.url,
                read_url=scratch.read_url,
                admin_url=scratch.admin_url,
                settings=bounded.model_copy(update={"cache_url": url}),
            )
            for name, url in [
                ("no cache", None),
                ("memory cache", None),
                ("redis cache", redis_url),
            ]
            if name != "redis cache" or url is not None
        }
        for db in contenders.values():  # warm-up: every pool's connections opened
            await asyncio.gather(
                *(DashboardService(db).get_gallery_overview(panels=UNCACHED) for _ in range(pool))
            )
        today = await scratch.today()
        print(f"{size} data, pool of {pool} (no overflow), {len(PANELS)} panels per dashboard")
        await same_filters(contenders, viewers, rounds, today)
        await distinct_filters(contenders, distinct, rounds)
        for db in contenders.values():
            await db.dispose()
        await close_panel_caches()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.viewers, arguments.distinct, arguments.pool, arguments.rounds, arguments.size
        )
    )
