"""GalleryDashboard driven from Python (no browser): figures follow the filters, rapid
changes collapse into one refresh, a newer refresh cancels the older, failures stay local."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import html
import inspect
from pathlib import Path

import nbformat
import pytest
from blockbuster import BlockBuster
from sqlalchemy import String, cast, func, literal, select

from gallery_analytics import panels as registry
from gallery_analytics.db.database import Database
from gallery_analytics.frames import to_frame
from gallery_analytics.panels import PANELS, Display, Panel
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.widgets import GalleryDashboard
from tests.integration.services.test_dashboard import _assert_nothing_running, _running_queries

YEAR_2024 = {"start": "2024-01-01", "end": "2024-12-31"}


async def _dashboard(db: Database, **kwargs: object) -> GalleryDashboard:
    return await GalleryDashboard.create(db, filters=YEAR_2024, **kwargs)  # type: ignore[arg-type]


def _kpi(dashboard: GalleryDashboard, name: str) -> str:
    return dashboard.kpis[name].value.split(f"data-kpi='{name}'")[1].split(">")[1].split("<")[0]


async def test_first_view_matches_the_service(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db)
    expected = await DashboardService(seeded_db).get_gallery_overview(YEAR_2024)
    revenue = to_frame(expected["monthly_revenue"])
    assert list(dashboard.figures["monthly_revenue"].data[0].y) == revenue["revenue"].tolist()
    figures = to_frame(expected["key_figures"]).iloc[0]
    assert _kpi(dashboard, "artworks") == f"{figures['artworks']:,.0f}"
    assert _kpi(dashboard, "visitors") == f"{figures['visitors']:,.0f}"
    assert "Updated" in dashboard.status_line.value
    assert repr(dashboard) == "GalleryDashboard(7 panels)"
    assert dashboard.figures["monthly_revenue"].layout.template.layout.colorway[0] == "#E69F00"


async def test_figures_and_tiles_come_from_the_panel_registry(seeded_db: Database) -> None:
    """One figure per charted panel, in registry order, each the panel's own chart under
    its registry title; the KPI tiles are the key_figures columns, headed and formatted
    as declared (before: a panel -> chart table and tile labels of the widget's own)."""
    dashboard = await _dashboard(seeded_db)
    charted = [panel for panel in PANELS if panel.display is Display.CHART]
    assert list(dashboard.figures) == [panel.name for panel in charted]
    overview = await DashboardService(seeded_db).get_gallery_overview(YEAR_2024)
    for panel in charted:
        shown = dashboard.figures[panel.name]
        expected = registry.draw(overview[panel.name])
        assert shown.layout.title.text == panel.title
        assert [trace.type for trace in shown.data] == [trace.type for trace in expected.data]
    key_figures = registry.panel("key_figures")
    assert list(dashboard.kpis) == [column.name for column in key_figures.columns]
    assert "Revenue (EUR)" in dashboard.kpis["revenue"].value
    assert "Exhibitions open" in dashboard.kpis["active_exhibitions"].value
    revenue = to_frame(overview["key_figures"])["revenue"][0]
    assert _kpi(dashboard, "revenue") == key_figures.column("revenue").show(revenue)


async def test_the_widget_shows_each_panel_as_the_registry_declares(seeded_db: Database) -> None:
    """Tiles only for the tiles panels it was given, a table for a table panel (before:
    key_figures tiles were built whatever ``panels=`` said, and any other panel without a
    chart was dropped while the report showed it as a table)."""
    top = dataclasses.replace(registry.panel("top_artists"), display=Display.TABLE)
    chosen = [top, registry.panel("monthly_revenue")]
    dashboard = await _dashboard(seeded_db, panels=chosen)
    assert dashboard.kpis == {}
    assert list(dashboard.figures) == ["monthly_revenue"]
    assert list(dashboard.tables) == ["top_artists"]
    overview = await DashboardService(seeded_db).get_gallery_overview(YEAR_2024, panels=chosen)
    shown = dashboard.tables["top_artists"].value
    assert "<h4" in shown
    assert top.title in shown
    for heading in registry.table(overview["top_artists"]).columns:
        assert f"<th>{heading}</th>" in shown
    first = to_frame(overview["top_artists"])["artist"][0]
    assert html.escape(first) in shown


def test_the_export_maps_no_filter_to_a_parameter_itself() -> None:
    """The filters -> report parameters mapping lives in ReportParameters; the widget
    hands over its filters (before: its own copy of check_parameters' mapping)."""
    source = inspect.getsource(GalleryDashboard.export_report)
    assert "check_parameters(self.service.db, self.filters())" in source
    assert "isoformat" not in source
    assert '",".join' not in source
    assert "KPI_PANEL" not in inspect.getsource(GalleryDashboard)


async def test_filter_changes_update_the_figures_in_place(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    figure = dashboard.figures["top_artists"]
    dashboard.mediums.value = ("Photography", "Print")
    dashboard.status.value = "sold"
    await dashboard.wait_idle()

    filters = {**YEAR_2024, "mediums": ["Photography", "Print"], "status": "sold"}
    expected = await DashboardService(seeded_db).get_gallery_overview(filters)
    assert dashboard.figures["top_artists"] is figure  # same widget, new data
    top = to_frame(expected["top_artists"])
    assert list(figure.data[0].x) == top["revenue"].tolist()
    revenue = to_frame(expected["monthly_revenue"])
    assert list(dashboard.figures["monthly_revenue"].data[0].y) == revenue["revenue"].tolist()
    by_medium = to_frame(expected["artworks_by_medium_status"])
    treemap = dashboard.figures["artworks_by_medium_status"].data[0]
    roots = [v for v, parent in zip(treemap.values, treemap.parents, strict=True) if not parent]
    assert roots == [by_medium["artworks"].sum()]  # the "All artworks" tile
    assert _kpi(dashboard, "artworks") == f"{to_frame(expected['key_figures'])['artworks'][0]:,}"


async def test_ten_rapid_changes_give_exactly_one_refresh(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.25)
    completed = dashboard.stats.completed
    statuses = ["sold", "", "on_loan", "available", "reserved"] * 2
    for status in statuses:
        dashboard.status.value = status
        await asyncio.sleep(0.02)  # faster than the debounce: an analyst clicking through
    await dashboard.wait_idle()
    assert dashboard.stats.completed == completed + 1
    assert dashboard.stats.scheduled == 1 + len(statuses)
    expected = await DashboardService(seeded_db).get_gallery_overview(
        {**YEAR_2024, "status": "reserved"}
    )
    assert _kpi(dashboard, "artworks") == f"{to_frame(expected['key_figures'])['artworks'][0]:,}"
    assert seeded_db.pool_status()["checked_out"] == 0


def _slow(panel: Panel, seconds: float) -> Panel:
    def build(filters: object) -> object:
        inner = panel.query(filters).subquery()  # type: ignore[arg-type]
        wait = select(cast(func.pg_sleep(seconds), String).label("waited")).cte("wait")
        return select(*inner.c).select_from(inner).join(wait, literal(True))

    return dataclasses.replace(panel, query=build)  # type: ignore[arg-type]


async def test_a_newer_refresh_cancels_the_one_in_flight(seeded_db: Database) -> None:
    panels = [_slow(p, 1.0) if p.name == "exhibition_attendance" else p for p in PANELS]
    dashboard = await _dashboard(seeded_db, panels=panels, debounce_seconds=0.01)
    completed = dashboard.stats.completed

    dashboard.status.value = "sold"
    for _ in range(100):  # until the slow query is running on the server
        if await _running_queries(seeded_db):
            break
        await asyncio.sleep(0.02)
    assert "Loading" in dashboard.status_line.value
    dashboard.status.value = "available"  # supersedes the refresh in flight
    await dashboard.wait_idle()

    assert dashboard.stats.cancelled == 1
    assert dashboard.stats.completed == completed + 1
    expected = await DashboardService(seeded_db).get_gallery_overview(
        {**YEAR_2024, "status": "available"}
    )
    assert _kpi(dashboard, "artworks") == f"{to_frame(expected['key_figures'])['artworks'][0]:,}"
    await _assert_nothing_running(seeded_db)


async def test_a_failing_panel_shows_its_error_while_the_others_update(
    seeded_db: Database,
) -> None:
    broken = dataclasses.replace(
        registry.panel("monthly_revenue"),
        query=lambda _: select((literal(1) / literal(0)).label("month")),
    )
    panels = [broken if p.name == "monthly_revenue" else p for p in PANELS]
    dashboard = await _dashboard(seeded_db, panels=panels, debounce_seconds=0.01)
    dashboard.status.value = "sold"
    await dashboard.wait_idle()

    failed = dashboard.figures["monthly_revenue"]
    assert failed.data == ()
    assert "division by zero" in failed.layout.annotations[0].text
    assert "1 panel(s) failed: monthly_revenue" in dashboard.status_line.value
    top = await DashboardService(seeded_db).get_gallery_overview({**YEAR_2024, "status": "sold"})
    assert list(dashboard.figures["top_artists"].data[0].x) == (
        to_frame(top["top_artists"])["revenue"].tolist()
    )


async def test_inconsistent_filters_are_reported_not_queried(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    completed = dashboard.stats.completed
    dashboard.start.value = dt.date(2025, 1, 1)  # after the end date
    await dashboard.wait_idle()
    assert dashboard.stats.completed == completed
    assert "end: must be on or after start (2025-01-01)" in dashboard.status_line.value


async def test_export_report_uses_the_current_filters(
    seeded_db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_blocking_calls_in_the_event_loop: BlockBuster,
) -> None:
    monkeypatch.setenv(  # the report's kernel reads the database URL like any session
        "GALLERY_DATABASE_URL", seeded_db.url.render_as_string(hide_password=False)
    )
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01, report_dir=tmp_path)
    dashboard.mediums.value = ("Photography", "Print")
    dashboard.status.value = "sold"
    await dashboard.wait_idle()
    # papermill (through nbclient) runs an event loop of its own inside the worker
    # thread the export uses; blockbuster would judge that loop's file access too.
    no_blocking_calls_in_the_event_loop.deactivate()
    try:
        path = await dashboard.export_report()
    finally:
        no_blocking_calls_in_the_event_loop.activate()
    assert path is not None
    assert path.parent == tmp_path
    html = await asyncio.to_thread(path.read_text, encoding="utf-8")  # no blocking I/O here
    assert html.count("Plotly.newPlot(") == 6
    executed = await asyncio.to_thread(nbformat.read, path.with_suffix(".ipynb"), as_version=4)
    injected = next(c for c in executed.cells if "injected-parameters" in c.metadata.tags)
    assert 'medium = "Photography,Print"' in injected.source
    assert 'status = "sold"' in injected.source
    assert f"Report written: {path}" in str(dashboard.messages.outputs)
