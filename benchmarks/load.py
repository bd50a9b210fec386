"""Load: many gallery-overview loads at once against a bounded pool.

Runs N concurrent loads (default 50, every registered panel each) against a pool of 10
connections on the medium demo dataset, a few rounds, and prints throughput
(dashboards per second) and per-load latency p50/p95, plus how many panels failed
(expected: none) and the pool state afterwards (expected: nothing checked out).

    .venv/bin/python benchmarks/load.py [--loads 50] [--pool 10] [--rounds 3] [--size medium]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from common import scratch_database, server_url

from gallery_analytics.config import PoolSettings, Settings
from gallery_analytics.db.database import Database
from gallery_analytics.panels import PANELS
from gallery_analytics.services.dashboard import DashboardService


async def timed_load(service: DashboardService) -> tuple[float, int]:
    started = time.perf_counter()
    overview = await service.get_gallery_overview({"start": "2024-01-01", "end": "2024-12-31"})
    return time.perf_counter() - started, len(overview.failed)


async def main(loads: int, pool: int, rounds: int, size: str) -> None:
    settings = Settings.from_env()
    scratch = await scratch_database(await server_url(settings), size, settings)
    await scratch.dispose()
    bounded = Settings(pool=PoolSettings(size=pool, max_overflow=0, timeout_seconds=60))
    db = Database(
        scratch.url, read_url=scratch.read_url, admin_url=scratch.admin_url, settings=bounded
    )
    service = DashboardService(db)
    async with db:
        await service.get_gallery_overview()  # warm-up
        for round_number in range(1, rounds + 1):
            started = time.perf_counter()
            results = await asyncio.gather(*(timed_load(service) for _ in range(loads)))
            wall = time.perf_counter() - started
            latencies = sorted(seconds * 1000 for seconds, _ in results)
            failed = sum(count for _, count in results)
            p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
            print(
                f"round {round_number}: {loads} loads x {len(PANELS)} panels on a pool of {pool}: "
                f"{loads / wall:6.1f} dashboards/s, p50 {statistics.median(latencies):7.1f} ms, "
                f"p95 {p95:7.1f} ms, failed panels {failed}"
            )
        print(f"pool afterwards: {db.pool_status()} (expected: 0 checked out)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=50)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    arguments = parser.parse_args()
    asyncio.run(main(arguments.loads, arguments.pool, arguments.rounds, arguments.size))
