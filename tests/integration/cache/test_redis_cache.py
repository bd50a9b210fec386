"""The panel cache shared through a real Redis (``GALLERY_CACHE_URL``): two Databases
and two processes, one computes and the other hits; entries expire; a Redis that does not
answer costs the cache, never the dashboard."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from typing import Any

from gallery_analytics.db.database import Database
from gallery_analytics.db.roles import APP_ROLES
from gallery_analytics.panels import PANELS
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.panel_cache import _backend, close_panel_caches
from tests.integration.cache.conftest import with_cache_settings
from tests.integration.cache.test_panel_cache import (
    executed_statements,
    lock_waiters,
    panel_queries,
    panels_blocked,
    wait_until,
)

_distinct = itertools.count(80)

# One overview in a process of its own, as a kernel or an API worker would load it.
_LOAD = """
import asyncio, json, sys
from gallery_analytics.db.connect import connect
from gallery_analytics.services.dashboard import DashboardService

async def main() -> None:
    async with await connect() as db:
        overview = await DashboardService(db).get_gallery_overview({"top_n": int(sys.argv[1])})
        print(json.dumps({n: [p.status, p.from_cache] for n, p in overview.panels.items()}))

asyncio.run(main())
"""


async def test_two_databases_share_entries(seeded_db: Database, redis_url: str) -> None:
    filters = {"top_n": next(_distinct)}
    one = with_cache_settings(seeded_db, cache_url=redis_url)
    other = with_cache_settings(seeded_db, cache_url=redis_url)
    async with one, other:
        with executed_statements() as seen:
            first = await DashboardService(one).get_gallery_overview(filters)
            second = await DashboardService(other).get_gallery_overview(filters)
        assert not any(result.from_cache for result in first.panels.values())
        assert all(result.from_cache for result in second.panels.values())
        assert panel_queries(seen, filters) == {panel.name: 1 for panel in PANELS}
        for name, result in second.panels.items():
            assert result.rows == first[name].rows
            assert result.columns == first[name].columns
            assert result.cached_at == first[name].cached_at
    await close_panel_caches()


async def test_two_processes_compute_each_panel_once(fresh_db: Database, redis_url: str) -> None:
    """Both processes start while the panels' tables are locked, so both miss; the lock in
    Redis lets one of them query each panel, the other takes its entries."""
    top_n = str(next(_distinct))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    environment |= {
        "GALLERY_DATABASE_URL": fresh_db.url.render_as_string(hide_password=False),
        "GALLERY_READ_DATABASE_URL": fresh_db.url.set(username=APP_ROLES.reader).render_as_string(
            hide_password=False
        ),
        "GALLERY_CACHE_URL": redis_url,
    }

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", _LOAD, top_n],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    async with panels_blocked(fresh_db):
        processes = [await asyncio.to_thread(start) for _ in range(2)]

        async def one_query_waits() -> bool:
            for process in processes:
                if process.poll() is not None:
                    ended = await asyncio.to_thread(process.communicate)
                    raise AssertionError(f"a load ended early: {ended}")
            return await lock_waiters(fresh_db) >= 1

        await wait_until(one_query_waits, "a panel query waiting on the lock", seconds=60)
        await asyncio.sleep(1)  # time for the other process to reach the Redis lock too
    outputs = [await asyncio.to_thread(process.communicate, timeout=120) for process in processes]
    loads: list[dict[str, Any]] = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        loads.append(json.loads(out.strip().splitlines()[-1]))
    for panel in PANELS:
        statuses = [load[panel.name] for load in loads]
        assert [status for status, _ in statuses] == ["ok", "ok"], statuses
        assert sorted(cached for _, cached in statuses) == [False, True], panel.name


async def test_entries_expire_in_redis(seeded_db: Database, redis_url: str) -> None:
    db = with_cache_settings(seeded_db, cache_url=redis_url, cache_ttl_seconds=0.5)
    filters = {"top_n": next(_distinct)}
    async with db:
        service = DashboardService(db)
        first = await service.get_gallery_overview(filters, panels=["top_artists"])
        hit = await service.get_gallery_overview(filters, panels=["top_artists"])
        assert not first["top_artists"].from_cache
        assert hit["top_artists"].from_cache

        async def expired() -> bool:
            again = await service.get_gallery_overview(filters, panels=["top_artists"])
            return not again["top_artists"].from_cache

        await wait_until(expired, "the Redis entry expiring", seconds=15)
    await close_panel_caches()


async def test_a_silent_redis_costs_the_cache_not_the_dashboard(seeded_db: Database) -> None:
    db = with_cache_settings(seeded_db, cache_url="redis://127.0.0.1:9/0")  # discard port
    async with db:
        service = DashboardService(db)
        for _ in range(2):
            overview = await service.get_gallery_overview({"top_n": next(_distinct)})
            assert not overview.failed
            assert not any(result.from_cache for result in overview.panels.values())
    await close_panel_caches()


async def test_panels_starting_together_share_one_redis_backend(redis_url: str) -> None:
    """A fresh loop's panels all ask for the backend at once: they must share one (the
    one close_panel_caches() closes), not each make a client of their own that is never
    closed."""
    loop = asyncio.get_running_loop()
    await close_panel_caches()  # this loop starts with none
    backends = await asyncio.gather(*(_backend(loop, redis_url) for _ in range(8)))
    try:
        assert all(backend is backends[0] for backend in backends)
    finally:
        await close_panel_caches()
