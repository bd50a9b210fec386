"""GalleryDashboard driven from Python (no browser): the view follows the filters, rapid
changes collapse into one refresh, a newer refresh cancels the older, failures stay local,
cross-filters narrow the other panels, downloads hold what the view shows."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from blockbuster import BlockBuster
from sqlalchemy import String, cast, func, literal, select

from gallery_analytics import panels as registry
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Artist, Artwork, Sale
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames import to_frame
from gallery_analytics.panels import PANELS, Display, Panel
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.widgets import GalleryDashboard
from gallery_analytics.widgets.dashboard import STALE_AFTER_SECONDS
from tests.integration.services.test_dashboard import _assert_nothing_running, _running_queries

YEAR_2024 = {"start": "2024-01-01", "end": "2024-12-31"}


async def _dashboard(db: Database, **kwargs: Any) -> GalleryDashboard:
    return await GalleryDashboard.create(db, filters=YEAR_2024, **kwargs)


def _kpi(dashboard: GalleryDashboard, key: str) -> str:
    return str(next(tile["value"] for tile in dashboard.view["tiles"] if tile["key"] == key))


def _shown(dashboard: GalleryDashboard, name: str) -> dict[str, Any]:
    return next(panel for panel in dashboard.view["panels"] if panel["name"] == name)


def _trace(dashboard: GalleryDashboard, name: str) -> dict[str, Any]:
    """The first trace of a panel's figure as sent, typed arrays decoded to lists."""
    figure = _shown(dashboard, name)["figure"]
    assert figure is not None, f"{name} has no figure"
    return {key: _decoded(value) for key, value in figure["data"][0].items()}


def _decoded(value: Any) -> Any:
    """plotly's JSON sends numeric arrays as {"dtype", "bdata"} (base64); plotly.js reads
    them as typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if isinstance(shape, str):  # "rows, columns"
            flat = flat.reshape([int(n) for n in shape.split(",")])
        return flat.tolist()
    return value


async def test_first_view_matches_the_service(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db)
    expected = await DashboardService(seeded_db).get_gallery_overview(YEAR_2024)
    revenue = to_frame(expected["monthly_revenue"])
    assert _trace(dashboard, "monthly_revenue")["y"] == revenue["revenue"].tolist()
    figures = to_frame(expected["key_figures"]).iloc[0]
    assert _kpi(dashboard, "artworks") == f"{figures['artworks']:,.0f}"
    assert _kpi(dashboard, "visitors") == f"{figures['visitors']:,.0f}"
    assert dashboard.status["state"] == "ok"
    assert dashboard.status["text"] == "Updated"
    assert dt.datetime.fromisoformat(dashboard.status["at"]).tzinfo is not None
    assert "ms" not in dashboard.status["text"]  # timings are for developers, not the page
    assert repr(dashboard) == "GalleryDashboard(7 panels)"
    layout = _shown(dashboard, "monthly_revenue")["figure"]["layout"]
    assert "template" not in layout  # sent once, as the template trait
    assert dashboard.template["layout"]["colorway"][0] == "#E69F00"
    assert dashboard.view["config"]["displaylogo"] is False  # no cloud links


async def test_plotly_js_is_shipped_once_and_holds_every_drawn_trace_type(
    seeded_db: Database,
) -> None:
    """One copy of plotly.js per dashboard (not per chart), small, and able to draw every
    trace type the charts produce (before: six FigureWidgets, 4.8 MB each)."""
    dashboard = await _dashboard(seeded_db)
    source = dashboard.plotly_source
    assert 500_000 < len(source) < 2_000_000
    drawn = {
        trace["type"]
        for panel in dashboard.view["panels"]
        if panel["figure"]
        for trace in panel["figure"]["data"]
    }
    assert drawn == {"bar", "treemap", "scatter"}
    for kind in drawn:  # each trace module registers itself under its name
        assert f'moduleType:"trace",name:"{kind}"' in source.replace(" ", "")


async def test_panels_come_from_the_panel_registry(seeded_db: Database) -> None:
    """One chart per charted panel, in registry order, each the panel's own chart under
    its registry title; the KPI tiles are the key_figures columns, headed and formatted
    as declared."""
    dashboard = await _dashboard(seeded_db)
    charted = [panel for panel in PANELS if panel.display is Display.CHART]
    assert [p["name"] for p in dashboard.view["panels"]] == [panel.name for panel in charted]
    overview = await DashboardService(seeded_db).get_gallery_overview(YEAR_2024)
    for panel in charted:
        shown = _shown(dashboard, panel.name)
        expected = registry.draw(overview[panel.name]).to_plotly_json()
        assert shown["title"] == panel.title
        assert [t["type"] for t in shown["figure"]["data"]] == [t["type"] for t in expected["data"]]
        # The CSV download is the panel's table (what the chart shows), as values.
        table = registry.table(overview[panel.name])
        assert shown["csv"] == registry.table_csv(overview[panel.name])
        parsed = await asyncio.to_thread(pd.read_csv, io.StringIO(shown["csv"]), dtype=str)
        assert parsed.shape == table.shape
    key_figures = registry.panel("key_figures")
    tiles = dashboard.view["tiles"]
    assert [tile["key"] for tile in tiles] == [column.name for column in key_figures.columns]
    assert tiles[1]["heading"] == "Revenue (EUR)"
    assert tiles[2]["heading"] == "Exhibitions open"
    revenue = to_frame(overview["key_figures"])["revenue"][0]
    assert _kpi(dashboard, "revenue") == key_figures.column("revenue").show(revenue)


async def test_the_widget_shows_each_panel_as_the_registry_declares(seeded_db: Database) -> None:
    """Tiles only for the tiles panels it was given, a table for a table panel."""
    top = dataclasses.replace(registry.panel("top_artists"), display=Display.TABLE)
    chosen = [top, registry.panel("monthly_revenue")]
    dashboard = await _dashboard(seeded_db, panels=chosen)
    assert dashboard.view["tiles"] == []
    assert [(p["name"], p["display"]) for p in dashboard.view["panels"]] == [
        ("top_artists", "table"),
        ("monthly_revenue", "chart"),
    ]
    assert _shown(dashboard, "top_artists")["figure"] is None
    overview = await DashboardService(seeded_db).get_gallery_overview(YEAR_2024, panels=chosen)
    shown = _shown(dashboard, "top_artists")["table"]
    for heading in registry.table(overview["top_artists"]).columns:
        assert f">{heading}</th>" in shown


async def test_data_reaches_the_page_escaped(seeded_db: Database) -> None:
    """Tables arrive as escaped HTML (the page sets them as innerHTML); every other text
    is set as text by the page."""
    dashboard = await _dashboard(seeded_db)
    artists = to_frame(
        (await DashboardService(seeded_db).get_gallery_overview(YEAR_2024))["top_artists"]
    )
    shown = _shown(dashboard, "top_artists")["table"]
    assert "<script" not in shown
    for name in artists["artist"]:
        assert name.replace("&", "&amp;").replace("<", "&lt;") in shown


async def test_filter_changes_update_the_view(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    dashboard.set_filters(mediums=["Photography", "Print"], status="sold")
    await dashboard.wait_idle()

    filters = {**YEAR_2024, "mediums": ["Photography", "Print"], "status": "sold"}
    expected = await DashboardService(seeded_db).get_gallery_overview(filters)
    top = to_frame(expected["top_artists"])
    assert _trace(dashboard, "top_artists")["x"] == top["revenue"].tolist()
    revenue = to_frame(expected["monthly_revenue"])
    assert _trace(dashboard, "monthly_revenue")["y"] == revenue["revenue"].tolist()
    by_medium = to_frame(expected["artworks_by_medium_status"])
    treemap = _trace(dashboard, "artworks_by_medium_status")
    roots = [
        v for v, parent in zip(treemap["values"], treemap["parents"], strict=True) if not parent
    ]
    assert roots == [by_medium["artworks"].sum()]  # the "All artworks" tile
    assert _kpi(dashboard, "artworks") == f"{to_frame(expected['key_figures'])['artworks'][0]:,}"
    assert dashboard.view["asked"]["controls"]["status"] == "sold"


async def test_ten_rapid_changes_give_exactly_one_refresh(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.25)
    completed = dashboard.stats.completed
    statuses = ["sold", "", "on_loan", "available", "reserved"] * 2
    for status in statuses:
        dashboard.set_filters(status=status)
        await asyncio.sleep(0.02)  # faster than the debounce: an analyst clicking through
    await dashboard.wait_idle()
    assert dashboard.stats.completed == completed + 1
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

    dashboard.set_filters(status="sold")
    for _ in range(100):  # until the slow query is running on the server
        if await _running_queries(seeded_db):
            break
        await asyncio.sleep(0.02)
    assert dashboard.status["state"] == "loading"
    dashboard.set_filters(status="available")  # supersedes the refresh in flight
    await dashboard.wait_idle()

    assert dashboard.stats.cancelled == 1
    assert dashboard.stats.completed == completed + 1
    expected = await DashboardService(seeded_db).get_gallery_overview(
        {**YEAR_2024, "status": "available"}
    )
    assert _kpi(dashboard, "artworks") == f"{to_frame(expected['key_figures'])['artworks'][0]:,}"
    assert dashboard.view["asked"]["controls"]["status"] == "available"
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
    dashboard.set_filters(status="sold")
    await dashboard.wait_idle()

    failed = _shown(dashboard, "monthly_revenue")
    assert failed["state"] == "error"
    assert "division by zero" in failed["error"]
    assert failed["csv"] == ""
    assert dashboard.status["text"] == "Updated · 1 panel(s) failed: Revenue by month"
    top = await DashboardService(seeded_db).get_gallery_overview({**YEAR_2024, "status": "sold"})
    assert _trace(dashboard, "top_artists")["x"] == to_frame(top["top_artists"])["revenue"].tolist()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start": "2025-01-01"}, "end: must be on or after start (2025-01-01)"),
        ({"start": "yesterday"}, "start"),
        ({"status": "stolen"}, "status"),
        ({"currency": "euro"}, "currency"),
        ({"mediums": [{"$gt": ""}]}, "mediums"),
    ],
)
async def test_bad_filters_from_the_page_are_reported_not_queried(
    seeded_db: Database, changes: dict[str, Any], message: str
) -> None:
    """The page is hostile input: a bad control value is a sentence in the status line,
    never a query or a traceback, and the previous view stays."""
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    completed, shown = dashboard.stats.completed, dashboard.view
    dashboard.controls = {**dashboard.controls, **changes}  # as the page sets them
    await dashboard.wait_idle()
    assert dashboard.stats.completed == completed
    assert dashboard.status["state"] == "error"
    assert message in dashboard.status["text"]
    assert dashboard.view == shown
    # The error answers those controls: the page stops showing "Updating…".
    assert dashboard.status["asked"]["controls"] == dashboard.controls


async def test_unknown_controls_from_the_page_are_refused(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    dashboard.controls = {**dashboard.controls, "top_n": 100000}
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "error"
    assert "top_n" in dashboard.status["text"]
    with pytest.raises(ValidationError, match="today"):
        dashboard.set_filters(today="2020-01-01")


async def test_a_cross_filter_narrows_the_other_panels_not_its_own(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    treemap_before = _trace(dashboard, "artworks_by_medium_status")
    dashboard.select("artworks_by_medium_status", {"medium": "Photography"})
    await dashboard.wait_idle()
    assert [s["label"] for s in dashboard.selections] == ["Medium: Photography"]
    service = DashboardService(seeded_db)
    narrowed = await service.get_gallery_overview({**YEAR_2024, "mediums": ["Photography"]})
    assert _trace(dashboard, "top_artists")["x"] == (
        to_frame(narrowed["top_artists"])["revenue"].tolist()
    )
    assert _kpi(dashboard, "artworks") == (f"{to_frame(narrowed['key_figures'])['artworks'][0]:,}")
    assert _trace(dashboard, "artworks_by_medium_status") == treemap_before  # not itself

    dashboard.select("monthly_revenue", {"month": "2024-03"})
    await dashboard.wait_idle()
    both = await service.get_gallery_overview(
        {"start": "2024-03-01", "end": "2024-03-31", "mediums": ["Photography"]}
    )
    assert _kpi(dashboard, "artworks") == f"{to_frame(both['key_figures'])['artworks'][0]:,}"
    march = await service.get_gallery_overview({**YEAR_2024, "mediums": ["Photography"]})
    assert _trace(dashboard, "monthly_revenue")["y"] == (
        to_frame(march["monthly_revenue"])["revenue"].tolist()
    )

    dashboard.clear_selections()
    await dashboard.wait_idle()
    everything = await service.get_gallery_overview(YEAR_2024)
    assert _kpi(dashboard, "artworks") == (
        f"{to_frame(everything['key_figures'])['artworks'][0]:,}"
    )


@pytest.mark.parametrize(
    "message",
    [
        {"type": "select", "panel": "top_secret", "filter": {"medium": "Print"}},
        {"type": "select", "panel": "key_figures", "filter": {"medium": "Print"}},
        {"type": "select", "panel": "monthly_revenue", "filter": {"medium": "Print"}},
        {"type": "select", "panel": "monthly_revenue", "filter": {"month": "2024-13"}},
        {"type": "select", "panel": "monthly_revenue", "filter": {"month": "2025-03"}},
        {"type": "select", "panel": "artworks_by_medium_status", "filter": {"status": "x"}},
        {"type": "select", "panel": "artworks_by_medium_status", "filter": "Print"},
        {"type": "select", "panel": "artworks_by_medium_status", "filter": {"medium": 7}},
    ],
)
async def test_hostile_chart_clicks_are_refused(
    seeded_db: Database, message: dict[str, Any]
) -> None:
    """A click message names what was clicked; anything a chart could not have sent is
    refused with a sentence, and the view is not narrowed."""
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    kpi = _kpi(dashboard, "artworks")
    dashboard._on_message(dashboard, message, [])
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "error"
    assert _kpi(dashboard, "artworks") == kpi


async def test_the_sales_download_holds_the_sales_behind_the_view(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    dashboard.set_filters(status="sold")
    dashboard.select("artworks_by_medium_status", {"medium": "Print"})
    await dashboard.wait_idle()
    name, mime, payload = await dashboard.rows_parquet()
    assert name == "gallery-sales-2024-01-01-to-2024-12-31.parquet"
    assert mime == "application/vnd.apache.parquet"
    rows = pd.read_parquet(io.BytesIO(payload))
    assert set(rows["medium"]) <= {"Print"}
    assert set(rows["status"]) <= {"sold"}
    assert rows["sold_at"].min() >= pd.Timestamp("2024-01-01", tz="UTC")
    assert rows["sold_at"].max() < pd.Timestamp("2025-01-01", tz="UTC")
    expected = await DashboardService(seeded_db).get_gallery_overview(
        {**YEAR_2024, "status": "sold", "mediums": ["Print"]}
    )
    monthly = to_frame(expected["monthly_revenue"])
    assert len(rows) == monthly["sales"].sum()
    assert rows["amount_eur"].sum() == pytest.approx(monthly["revenue"].sum())


async def test_export_report_sends_the_html_for_the_current_filters(
    seeded_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    no_blocking_calls_in_the_event_loop: BlockBuster,
) -> None:
    monkeypatch.setenv(  # the report's kernel reads the database URL like any session
        "GALLERY_DATABASE_URL", seeded_db.url.render_as_string(hide_password=False)
    )
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    dashboard.set_filters(mediums=["Photography", "Print"], status="sold")
    await dashboard.wait_idle()
    sent: list[tuple[Any, Any]] = []
    monkeypatch.setattr(
        dashboard, "send", lambda content, buffers=None: sent.append((content, buffers))
    )
    # papermill (through nbclient) runs an event loop of its own inside the worker
    # thread the export uses; blockbuster would judge that loop's file access too.
    no_blocking_calls_in_the_event_loop.deactivate()
    try:
        dashboard._on_message(dashboard, {"type": "download", "what": "report"}, [])
        assert dashboard._download_task is not None
        await dashboard._download_task
    finally:
        no_blocking_calls_in_the_event_loop.activate()
    [(content, buffers)] = sent
    assert content == {
        "type": "download",
        "filename": "gallery-report-2024-01-01-to-2024-12-31.html",
        "mime": "text/html",
    }
    page = bytes(buffers[0]).decode("utf-8")
    assert "Photography" in page
    assert "sold" in page.lower()
    assert page.count("Plotly.newPlot(") == 6
    assert dashboard.download_status == {
        "state": "ok",
        "text": "Downloaded gallery-report-2024-01-01-to-2024-12-31.html.",
    }
    assert dashboard.status["text"] == "Updated"  # the refresh's line is its own
    assert dashboard.shown_filters is not None
    assert dashboard.shown_filters.mediums == ("Photography", "Print")


async def test_clicking_an_artist_narrows_the_other_panels_to_that_artist(
    seeded_db: Database,
) -> None:
    """The artist cross-filter against counts made here from the tables themselves."""
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    top = _shown(dashboard, "top_artists")["figure"]["data"][0]
    clicked = json.loads(top["ids"][0])  # what the chart says a click on the first bar selects
    artist_id = clicked["artist_id"]
    dashboard._on_message(
        dashboard, {"type": "select", "panel": "top_artists", "filter": clicked}, []
    )
    await dashboard.wait_idle()
    async with seeded_db.read_session() as session:
        name = await session.scalar(select(Artist.name).where(Artist.id == artist_id))
        acquired = await session.scalar(
            select(func.count())
            .select_from(Artwork)
            .where(
                Artwork.artist_id == artist_id,
                Artwork.acquired_at >= dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                Artwork.acquired_at < dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            )
        )
        sales = await session.scalar(
            select(func.count())
            .select_from(Sale)
            .join(Artwork, Artwork.id == Sale.artwork_id)
            .where(
                Artwork.artist_id == artist_id,
                Sale.sold_at >= dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                Sale.sold_at < dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            )
        )
    assert [s["label"] for s in dashboard.selections] == [f"Artist: {name}"]
    assert _kpi(dashboard, "artworks") == f"{acquired:,}"
    months = _trace(dashboard, "monthly_revenue")
    assert sum(months["customdata"][i][0] for i in range(len(months["y"]))) == sales
    nationality = _trace(dashboard, "artists_by_nationality_gender")
    assert sum(_decoded(nationality.get("x")) or []) in (0, 1)  # only that artist, if at all


async def test_cross_filters_from_a_link_get_labels_made_here(seeded_db: Database) -> None:
    """A shared link carries what is selected, not how it is labelled: the page's text
    for a chip is replaced by one made from the selection."""
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    dashboard.selections = [
        {"panel": "monthly_revenue", "filter": {"month": "2024-03"}, "label": "<b>hacked</b>"}
    ]
    await dashboard.wait_idle()
    assert dashboard.selections == [
        {"panel": "monthly_revenue", "filter": {"month": "2024-03"}, "label": "Month: Mar 2024"}
    ]
    assert dashboard.view["asked"]["selections"] == dashboard.selections


async def test_what_a_currency_leaves_out_is_stated_under_its_panels(seeded_db: Database) -> None:
    """A currency without exchange rates converts nothing: the revenue tile and the money
    charts say what they left out (the service's notes), none silently."""
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    assert dashboard.choices["currencies"][0] == "EUR"
    assert dashboard.view["tile_notes"] == []
    dashboard.set_filters(currency="CHF")
    await dashboard.wait_idle()
    expected = await DashboardService(seeded_db).get_gallery_overview(
        {**YEAR_2024, "currency": "CHF"}
    )
    assert dashboard.view["tile_notes"] == list(expected["key_figures"].notes)
    assert any("no EUR→CHF rate" in note for note in dashboard.view["tile_notes"])
    for name in ("monthly_revenue", "top_artists"):
        assert _shown(dashboard, name)["notes"] == list(expected[name].notes)
        assert _shown(dashboard, name)["notes"]
    assert _kpi(dashboard, "revenue") == "0"
    assert next(t for t in dashboard.view["tiles"] if t["key"] == "revenue")["heading"] == (
        "Revenue (CHF)"
    )


async def test_a_page_opened_on_an_old_view_gets_a_fresh_one(seeded_db: Database) -> None:
    """Voila's preheated kernels (and a reopened notebook) made their view before the
    page was opened: opening it refreshes a view older than STALE_AFTER_SECONDS, and
    only then."""
    dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
    completed = dashboard.stats.completed
    dashboard._on_message(dashboard, {"type": "opened"}, [])
    await dashboard.wait_idle()
    assert dashboard.stats.completed == completed  # just made: no second load
    assert dashboard.stats.last_finished_monotonic is not None
    dashboard.stats.last_finished_monotonic -= STALE_AFTER_SECONDS + 1
    dashboard._on_message(dashboard, {"type": "opened"}, [])
    await dashboard.wait_idle()
    assert dashboard.stats.completed == completed + 1


async def test_changes_arriving_on_another_thread_refresh_the_view(seeded_db: Database) -> None:
    """JupyterLab sends widget messages through a kernel subshell, which ipykernel 7 runs
    on a thread and event loop of its own. A filter change or click arriving there must
    still refresh the view (before: the task was created on the dashboard's loop from the
    other thread, never woken, and the second change in JupyterLab did nothing; asyncio's
    debug mode, on here, refuses such a call outright)."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    try:
        dashboard = await _dashboard(seeded_db, debounce_seconds=0.01)
        completed = dashboard.stats.completed

        def from_a_subshell() -> None:
            async def deliver() -> None:  # as ipykernel's subshell thread runs handlers
                dashboard.controls = {**dashboard.controls, "status": "sold"}
                dashboard._on_message(
                    dashboard,
                    {"type": "select", "panel": "monthly_revenue", "filter": {"month": "2024-03"}},
                    [],
                )

            asyncio.run(deliver())

        await asyncio.to_thread(from_a_subshell)
        for _ in range(500):
            await asyncio.sleep(0.02)
            if dashboard.stats.completed > completed and dashboard._task is not None:
                await dashboard.wait_idle()
                if dashboard.view["asked"]["selections"]:
                    break
    finally:
        loop.set_debug(False)
    expected = await DashboardService(seeded_db).get_gallery_overview(
        {"start": "2024-03-01", "end": "2024-03-31", "status": "sold"}
    )
    assert dashboard.view["asked"]["controls"]["status"] == "sold"
    assert _kpi(dashboard, "artworks") == f"{to_frame(expected['key_figures'])['artworks'][0]:,}"
