"""Time `seed --size large` (target: under 60 s on a 2-core machine).

Seeds a scratch database on the embedded server (or GALLERY_DATABASE_URL's server),
prints generate/load/total seconds and rows per second for each run, then drops it.

    .venv/bin/python benchmarks/seed_large.py [--size large] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from common import application_scratch_database, server_url

from gallery_analytics.config import Settings
from gallery_analytics.db.admin import create_database, drop_database
from gallery_analytics.demo.load import seed_demo

TARGET_SECONDS = 60.0


async def main(size: str, repeat: int) -> None:
    settings = Settings.from_env()
    server = await server_url(settings)
    name = f"gallery_bench_seed_{os.getpid()}"
    await create_database(server, name)
    db = await application_scratch_database(server, name, settings)
    totals: list[float] = []
    try:
        async with db:
            for run in range(1, repeat + 1):
                started = time.perf_counter()
                report = await seed_demo(db, size=size, progress=False)
                wall = time.perf_counter() - started
                totals.append(wall)
                rows = sum(report.rows.values())
                print(
                    f"run {run}: generate {report.generate_seconds:5.1f} s  "
                    f"load {report.load_seconds:5.1f} s  total {wall:5.1f} s  "
                    f"({rows:,} rows, {rows / wall:,.0f} rows/s)"
                )
    finally:
        await drop_database(server, name)
    best = min(totals)
    print(
        f"seed --size {size}: best {best:.1f} s, median {statistics.median(totals):.1f} s "
        f"over {len(totals)} run(s); target {TARGET_SECONDS:.0f} s -> "
        f"{'MET' if best <= TARGET_SECONDS else 'MISSED'} ({best / TARGET_SECONDS:.2f}x of target)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--repeat", type=int, default=2)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.size, arguments.repeat))
