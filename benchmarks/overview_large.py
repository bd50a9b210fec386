"""The whole gallery overview on large data, cache cold: rollups versus base tables.

30 different filter sets (dates, mediums, status, artist, user, currency, top_n), each
loaded once with the panels reading the rollups of migration 0006 and once reading the
base tables (``base_tables_only``), interleaved so machine noise hits both alike; every
load passes ``refresh=True`` (the panel cache is bypassed). Prints per-panel medians, the
whole overview's p50 and p95 for both, whether every panel answered the same rows, and
the verdict against the targets (p50 <= 150 ms, p95 <= 300 ms).

    .venv/bin/python benchmarks/overview_large.py [--size large] [--repeat 1]

The large dataset is seeded once into a scratch database (gallery_bench_dashboard_large,
shared with benchmarks/dashboard.py) on the embedded server or GALLERY_DATABASE_URL's
server, and kept for later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import inspect
import statistics
import time
from collections import defaultdict
from typing import Any

from common import percentile, scratch_database, server_url
from sqlalchemy import text

from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.queries.overview import base_tables_only
from gallery_analytics.services.dashboard import DashboardService

P50_TARGET_MS = 150.0
P95_TARGET_MS = 300.0


async def filter_sets(db: Database) -> list[OverviewFilters]:
    """30 filter sets a gallery analyst would click through, on the demo data's ids."""
    async with db.read_session() as session:
        artists = [
            str(row[0])
            for row in await session.execute(
                text("SELECT artist_id FROM artworks GROUP BY 1 ORDER BY count(*) DESC LIMIT 4")
            )
        ]
        users = [
            str(row[0])
            for row in await session.execute(
                text("SELECT owner_id FROM artworks GROUP BY 1 ORDER BY count(*) DESC LIMIT 4")
            )
        ]
        mediums = [
            str(row[0])
            for row in await session.execute(
                text("SELECT medium FROM artworks GROUP BY 1 ORDER BY count(*) DESC LIMIT 5")
            )
        ]
    today = dt.date(2025, 11, 15)
    day = dt.date.fromisoformat
    raw: list[dict[str, Any]] = [
        {},
        {"start": day("2024-01-01"), "end": day("2024-12-31")},
        {"start": day("2023-01-01"), "end": day("2023-12-31"), "currency": "USD"},
        {"start": day("2024-03-15"), "end": day("2024-09-10")},
        {"start": day("2025-01-01"), "end": day("2025-11-15"), "currency": "GBP"},
        {"start": day("2022-07-01"), "end": day("2024-06-30"), "top_n": 25},
        {"start": day("2024-01-01"), "end": day("2024-12-31"), "mediums": mediums[:1]},
        {"start": day("2024-01-01"), "end": day("2024-12-31"), "mediums": mediums[1:3]},
        {"start": day("2023-04-04"), "end": day("2023-10-17"), "status": "sold"},
        {"status": "available", "currency": "USD"},
        {"mediums": mediums[2:5], "top_n": 5},
        {"start": day("2024-01-01"), "end": day("2024-12-31"), "artist_id": artists[0]},
        {"artist_id": artists[1]},
        {"start": day("2021-01-01"), "artist_id": artists[2], "currency": "USD"},
        {"start": day("2024-01-01"), "end": day("2024-12-31"), "user_id": users[0]},
        {"user_id": users[1], "currency": "GBP"},
        {"start": day("2023-06-01"), "end": day("2024-05-31"), "user_id": users[2]},
        {"start": day("2024-11-01"), "end": day("2024-11-30")},
        {"start": day("2024-11-07"), "end": day("2024-11-21"), "mediums": mediums[:2]},
        {"start": day("2020-01-01"), "end": day("2020-12-31"), "status": "on_loan"},
        {"end": day("2021-12-31")},
        {"start": day("2025-06-01")},
        {"start": day("2019-02-11"), "end": day("2023-08-08"), "currency": "USD", "top_n": 3},
        {"start": day("2024-01-01"), "end": day("2024-03-31"), "status": "sold", "top_n": 50},
        {"start": day("2022-01-01"), "end": day("2022-12-31"), "mediums": mediums[3:4]},
        {"mediums": mediums[:1], "status": "sold", "currency": "GBP"},
        {"start": day("2024-05-20"), "end": day("2024-05-26")},
        {"start": day("2018-01-01"), "end": day("2025-11-15")},
        {
            "start": day("2024-01-01"),
            "end": day("2024-12-31"),
            "user_id": users[3],
            "mediums": mediums[:3],
        },
        {
            "start": day("2023-01-01"),
            "end": day("2024-12-31"),
            "artist_id": artists[3],
            "status": "sold",
        },
    ]
    return [OverviewFilters.parse({**filters, "today": today}) for filters in raw]


async def main(size: str, repeat: int) -> None:
    settings = Settings.from_env()
    db = await scratch_database(await server_url(settings), size, settings)
    async with db:
        service = DashboardService(db)
        cold: dict[str, Any] = {}
        if "refresh" in inspect.signature(service.get_gallery_overview).parameters:
            cold["refresh"] = True
        else:
            print("note: this DashboardService has no panel cache (no refresh=)")
        sets = await filter_sets(db)
        await service.get_gallery_overview(sets[0], **cold)  # warm-up: the pool's connections
        whole: dict[str, list[float]] = {"rollups": [], "base": []}
        panels: dict[str, dict[str, list[float]]] = {"rollups": defaultdict(list), "base": {}}
        panels["base"] = defaultdict(list)
        mismatches: list[str] = []
        for _ in range(repeat):
            for filters in sets:
                rows: dict[str, Any] = {}
                for source in ("rollups", "base"):
                    started = time.perf_counter()
                    if source == "base":
                        with base_tables_only():
                            overview = await service.get_gallery_overview(filters, **cold)
                    else:
                        overview = await service.get_gallery_overview(filters, **cold)
                    whole[source].append((time.perf_counter() - started) * 1000)
                    assert not overview.failed, overview.failed
                    rows[source] = {}
                    for panel in overview.panels.values():
                        panels[source][panel.name].append(panel.wall_seconds * 1000)
                        rows[source][panel.name] = (panel.rows, panel.notes)
                if rows["rollups"] != rows["base"]:
                    mismatches.append(str(filters.model_dump(exclude_defaults=True)))
        loads = len(whole["rollups"])
        print(f"\ngallery overview, {size} data, {loads} loads (30 filter sets), cache cold")
        print(f"  {'panel (median ms)':<32} {'rollups':>9} {'base':>9}")
        for name in panels["rollups"]:
            print(
                f"  {name:<32} {statistics.median(panels['rollups'][name]):9.1f} "
                f"{statistics.median(panels['base'][name]):9.1f}"
            )
        for source in ("rollups", "base"):
            p50, p95 = statistics.median(whole[source]), percentile(whole[source], 0.95)
            verdict = (
                f"p50 {'MET' if p50 <= P50_TARGET_MS else 'MISSED'}, "
                f"p95 {'MET' if p95 <= P95_TARGET_MS else 'MISSED'}"
            )
            print(
                f"  whole overview from {source:<8} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
                f"max {max(whole[source]):7.1f} ms  ({verdict})"
            )
        print(
            f"  targets: p50 <= {P50_TARGET_MS:.0f} ms, p95 <= {P95_TARGET_MS:.0f} ms; "
            f"base / rollups at p50: "
            f"{statistics.median(whole['base']) / statistics.median(whole['rollups']):.1f}x"
        )
        print(
            "  same rows and notes from rollups and base tables: "
            + ("yes, every load" if not mismatches else f"NO for {mismatches}")
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--repeat", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.size, arguments.repeat))
