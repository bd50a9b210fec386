"""One "today": ``Database.today()`` and everything that defaults to it.

The demo data is generated around a fixed date and records it; a service called
without a date (as the README shows) must agree with the demo, not with the calendar.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from gallery_analytics import DashboardService, Database
from gallery_analytics.config import Settings
from gallery_analytics.demo.generate import DEMO_TODAY
from gallery_analytics.reports import check_parameters
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.summary import SummaryService
from tests.conftest import run_cli


async def test_demo_data_records_its_today(seeded_db: Database) -> None:
    assert await seeded_db.today() == DEMO_TODAY


async def test_gallery_today_setting_wins_over_the_dataset(seeded_db: Database) -> None:
    chosen = dt.date(2024, 3, 1)
    settings = Settings.from_env({"GALLERY_TODAY": chosen.isoformat()})
    async with Database(
        seeded_db.url, read_url=seeded_db.read_url, settings=settings
    ) as configured:
        assert await configured.today() == chosen
        dashboard = await DashboardService(configured).get_user_dashboard(
            (await CatalogService(configured).list_users(limit=1))[0].id
        )
    assert dashboard.on == chosen


async def test_data_without_a_reference_date_uses_the_calendar(empty_db: Database) -> None:
    assert await empty_db.today() == dt.date.today()


async def test_user_dashboard_without_a_date_uses_the_demo_today(seeded_db: Database) -> None:
    """Called as the README shows: the calendar's today found 0 open exhibitions here."""
    open_on_demo_day = await CatalogService(seeded_db).find_active_exhibitions(on=DEMO_TODAY)
    assert open_on_demo_day, "the demo has exhibitions open on its today"
    curator = open_on_demo_day[0].curator_id
    dashboard = await DashboardService(seeded_db).get_user_dashboard(curator)
    assert dashboard.on == DEMO_TODAY
    assert {show.id for show in dashboard.active_exhibitions} == {
        show.id for show in open_on_demo_day if show.curator_id == curator
    }


async def test_key_figures_without_dates_count_exhibitions_open_on_the_demo_today(
    seeded_db: Database,
) -> None:
    """The KPI tile used the server's current_date: 0 open exhibitions on demo data."""
    open_on_demo_day = await CatalogService(seeded_db).find_active_exhibitions(on=DEMO_TODAY)
    overview = await DashboardService(seeded_db).get_gallery_overview(panels=["key_figures"])
    (row,) = overview["key_figures"].rows
    assert row["active_exhibitions"] == len(open_on_demo_day) > 0


async def test_key_figures_follow_the_gallery_today_setting(seeded_db: Database) -> None:
    chosen = dt.date(2024, 3, 1)
    expected = await CatalogService(seeded_db).find_active_exhibitions(on=chosen)
    settings = Settings.from_env({"GALLERY_TODAY": chosen.isoformat()})
    async with Database(seeded_db.url, read_url=seeded_db.read_url, settings=settings) as db:
        overview = await DashboardService(db).get_gallery_overview(panels=["key_figures"])
    assert overview["key_figures"].rows[0]["active_exhibitions"] == len(expected)


async def test_summary_without_a_date_uses_the_demo_today(seeded_db: Database) -> None:
    open_on_demo_day = await CatalogService(seeded_db).find_active_exhibitions(on=DEMO_TODAY)
    summary = await SummaryService(seeded_db).get_summary()
    assert summary.on == DEMO_TODAY
    assert summary.open_exhibitions == len(open_on_demo_day) > 0


async def test_the_default_report_period_is_the_last_full_year_before_today(
    seeded_db: Database,
) -> None:
    parameters = await check_parameters(seeded_db, {})
    assert (parameters.start, parameters.end) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    settings = Settings.from_env({"GALLERY_TODAY": "2026-03-01"})
    async with Database(seeded_db.url, read_url=seeded_db.read_url, settings=settings) as db:
        later = await check_parameters(db, {})
    assert (later.start, later.end) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))


async def test_cli_summary_without_a_date_uses_the_demo_today(seeded_db: Database) -> None:
    open_on_demo_day = await CatalogService(seeded_db).find_active_exhibitions(on=DEMO_TODAY)
    result = await asyncio.to_thread(run_cli, "summary", database_url=seeded_db.url)
    assert result.returncode == 0, result.stderr
    assert f"exhibitions open: {len(open_on_demo_day)}" in result.stdout
    assert DEMO_TODAY.isoformat() in result.stdout
