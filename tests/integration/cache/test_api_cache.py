"""The HTTP API over the panel cache: per-panel ``cached_at`` in JSON, an ``Age`` header
on a single panel served from the cache, ``?refresh=true`` and ``Cache-Control: no-cache``
reading afresh."""

from __future__ import annotations

import datetime as dt
import itertools

from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.panels import PANELS
from tests.integration.api.conftest import api_client

_distinct = itertools.count(60)
PUBLIC_READS = Settings(api_public_reads=True)


async def test_age_header_and_refresh(seeded_db: Database) -> None:
    query = {"top_n": str(next(_distinct))}
    async with api_client(seeded_db, settings=PUBLIC_READS) as client:
        first = await client.get("/overview/top_artists", params=query)
        assert first.status_code == 200, first.text
        assert "age" not in first.headers  # read from the database for this request
        assert first.json()["from_cache"] is False
        cached_at = dt.datetime.fromisoformat(first.json()["cached_at"])
        assert cached_at.tzinfo is not None

        again = await client.get("/overview/top_artists", params=query)
        assert again.json()["from_cache"] is True
        assert again.json()["cached_at"] == first.json()["cached_at"]
        assert int(again.headers["age"]) >= 0
        as_csv = await client.get("/overview/top_artists", params={**query, "format": "csv"})
        assert "age" in as_csv.headers

        for bypass in (
            {"params": {**query, "refresh": "true"}},
            {"params": query, "headers": {"Cache-Control": "no-cache"}},
        ):
            fresh = await client.get("/overview/top_artists", **bypass)  # type: ignore[arg-type]
            assert fresh.status_code == 200, fresh.text
            assert fresh.json()["from_cache"] is False
            assert "age" not in fresh.headers
            assert fresh.json()["rows"] == first.json()["rows"]


async def test_the_overview_carries_each_panels_cached_at(seeded_db: Database) -> None:
    query = {"top_n": str(next(_distinct))}
    async with api_client(seeded_db, settings=PUBLIC_READS) as client:
        first = (await client.get("/overview", params=query)).json()
        second = (await client.get("/overview", params=query)).json()
        fresh = (
            await client.get("/overview", params=query, headers={"cache-control": "no-cache"})
        ).json()
    for panel in PANELS:
        assert first["panels"][panel.name]["from_cache"] is False
        assert second["panels"][panel.name]["from_cache"] is True
        assert second["panels"][panel.name]["cached_at"] == first["panels"][panel.name]["cached_at"]
        assert fresh["panels"][panel.name]["from_cache"] is False
        assert fresh["panels"][panel.name]["cached_at"] > first["panels"][panel.name]["cached_at"]
