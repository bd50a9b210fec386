"""The dashboard widget over the panel cache: each panel says how old a cached result
is, and the page's Refresh button reads every panel afresh."""

from __future__ import annotations

from gallery_analytics.db.database import Database
from gallery_analytics.widgets.dashboard import GalleryDashboard

# A period no other widget test shows, so the first dashboard reads it from the database.
PERIOD = {"start": "2021-02-01", "end": "2023-03-31", "currency": "GBP"}


async def test_panels_show_their_age_and_refresh_reads_afresh(seeded_db: Database) -> None:
    first = await GalleryDashboard.create(seeded_db, filters=PERIOD, debounce_seconds=0.01)
    assert all(panel["age"] is None for panel in first.view["panels"])
    second = await GalleryDashboard.create(seeded_db, filters=PERIOD, debounce_seconds=0.01)
    assert second.current is not None
    assert all(result.from_cache for result in second.current.panels.values())
    ages = [panel["age"] for panel in second.view["panels"]]
    assert ages
    assert all(age is not None and age.startswith("cached ") for age in ages)

    second._handle_message({"type": "refresh"})  # the page's Refresh button
    await second.wait_idle()
    assert not any(result.from_cache for result in second.current.panels.values())
    assert all(panel["age"] is None for panel in second.view["panels"])
    assert {n: p.rows for n, p in second.current.panels.items()} == {
        n: p.rows
        for n, p in first.current.panels.items()  # type: ignore[union-attr]
    }
    # The bypass is for that one refresh: the next filter change may use the cache.
    second.schedule_refresh()
    await second.wait_idle()
    assert all(result.from_cache for result in second.current.panels.values())
