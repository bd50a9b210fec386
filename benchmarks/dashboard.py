"""Parallel dashboards versus the same panels one after another.

(a) latency-bound: six overview panels, each made to spend about 200 ms waiting on the
    server (pg_sleep in a CTE, evaluated once). Target: parallel wall time at most
    1.2x the slowest single panel; the sequential/parallel ratio shows the gain.
(b) CPU-bound: the real gallery overview on the large demo dataset (1M artworks,
    1M sales, 1M visits). Two cores bound the gain near 2x.

Each scenario runs every contender in the same process, interleaved, and prints the
median of N repeats after one warm-up (the pool's connections are opened then).

    .venv/bin/python benchmarks/dashboard.py [--repeat 7] [--skip-large] [--size large]

The large dataset is seeded once into a scratch database (gallery_bench_dashboard) on
the embedded server, or on GALLERY_DATABASE_URL's server, and kept for later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
from collections.abc import Awaitable, Callable

from common import scratch_database, server_url
from sqlalchemy import func, literal, select, text

from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.panels import PANELS, Panel
from gallery_analytics.services.dashboard import DashboardService

LATENCY_SECONDS = 0.2


def latency_bound(panel: Panel, seconds: float) -> Panel:
    """``panel`` plus ``seconds`` of server-side waiting, like a slow remote database."""

    def build(filters: OverviewFilters) -> object:
        inner = panel.query(filters).subquery()
        wait = select(func.pg_sleep(seconds).label("waited")).cte("wait")
        return select(*inner.c).select_from(inner).join(wait, literal(True))

    return dataclasses.replace(panel, query=build)  # type: ignore[arg-type]


async def median_seconds(run: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    await run()  # warm-up: opens the pool's connections, fills caches
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        timings.append(time.perf_counter() - started)
    return timings


def report(label: str, timings: list[float]) -> float:
    median = statistics.median(timings)
    print(f"  {label:<38} median {median * 1000:8.1f} ms   min {min(timings) * 1000:8.1f} ms")
    return median


async def scenario(
    db: Database, panels: list[Panel], repeat: int, title: str, *, target: float | None = None
) -> None:
    service = DashboardService(db)
    print(f"\n{title} ({len(panels)} panels, median of {repeat})")
    singles: dict[str, float] = {}
    parallel_runs: list[float] = []
    sequential_runs: list[float] = []
    single_runs: dict[str, list[float]] = {panel.name: [] for panel in panels}
    await service.get_gallery_overview(panels=panels)  # warm-up
    for _ in range(repeat):  # interleaved, so machine noise hits every contender alike
        for panel in panels:
            started = time.perf_counter()
            await service.get_gallery_overview(panels=[panel])
            single_runs[panel.name].append(time.perf_counter() - started)
        started = time.perf_counter()
        await service.get_gallery_overview(panels=panels, parallel=False)
        sequential_runs.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = await service.get_gallery_overview(panels=panels)
        parallel_runs.append(time.perf_counter() - started)
        assert not result.failed, result.failed
    for name, timings in single_runs.items():
        singles[name] = report(f"alone: {name}", timings)
    sequential = report("sequential (one after another)", sequential_runs)
    parallel = report("parallel (asyncio, own sessions)", parallel_runs)
    slowest = max(singles.values())
    ratio = parallel / slowest
    verdict = (
        f"(target <= {target}x: {'MET' if ratio <= target else 'MISSED'})"
        if target is not None
        else "(info: CPU-bound, two cores bound the gain)"
    )
    print(f"  parallel / slowest single panel     {ratio:5.2f}x  {verdict}")
    print(f"  sequential / parallel               {sequential / parallel:5.2f}x")
    print(f"  sum of single panels / parallel     {sum(singles.values()) / parallel:5.2f}x")


async def set_parallel_query(db: Database, workers: int) -> None:
    """Set PostgreSQL's own intra-query parallelism for new connections to ``db``."""
    async with db.connection(write=True) as connection:
        await connection.execute(
            text(
                f'ALTER DATABASE "{db.url.database}" SET max_parallel_workers_per_gather = '
                f"{int(workers)}"
            )
        )
        await connection.commit()
    await db.dispose()  # new connections pick the setting up


async def main(repeat: int, size: str, skip_large: bool) -> None:
    settings = Settings.from_env()
    server = await server_url(settings)
    async with await scratch_database(server, "small", settings) as small:
        six = [latency_bound(panel, LATENCY_SECONDS) for panel in PANELS[:6]]
        await scenario(
            small,
            six,
            repeat,
            f"(a) latency-bound, small data: each panel waits {LATENCY_SECONDS}s",
            target=1.2,
        )
    if skip_large:
        return
    async with await scratch_database(server, size, settings) as large:
        try:
            panels = list(PANELS)
            await scenario(large, panels, repeat, f"(b) CPU-bound: gallery overview, {size} data")
            # PostgreSQL already spreads one big query over both cores (parallel query), which
            # leaves little for asyncio to add; without it, the gain from running panels
            # concurrently shows on its own.
            await set_parallel_query(large, 0)
            await scenario(
                large,
                panels,
                repeat,
                f"(b') CPU-bound: gallery overview, {size} data, PostgreSQL parallel query off",
            )
        finally:
            await set_parallel_query(large, 2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--skip-large", action="store_true", help="only scenario (a)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.repeat, arguments.size, arguments.skip_large))
