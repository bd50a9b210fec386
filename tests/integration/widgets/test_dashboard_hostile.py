"""GalleryDashboard against a hostile page and a hostile network (no browser).

Everything the page sends (the ``controls`` and ``selections`` traits, custom messages)
is input an attacker or a broken client controls: wrong types, huge values, unicode
tricks, crafted messages, floods. Each test says what the kernel must do with it: a
sentence in the status line (bounded, never echoing megabytes back), never a query built
from junk, never an exception escaping into the comm handler, and never a view that
disagrees with the service for the filters it claims to show.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from typing import Any

import pandas as pd
import pytest
from blockbuster import BlockBuster
from sqlalchemy import update

import gallery_analytics.reports as reports  # imported here, not on a test's event loop
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Artist
from gallery_analytics.frames import to_frame
from gallery_analytics.panels import PANELS
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.widgets import GalleryDashboard
from tests.integration.services.test_dashboard import _assert_nothing_running, _running_queries
from tests.integration.widgets.test_dashboard import _kpi, _shown, _slow, _trace

YEAR_2024 = {"start": "2024-01-01", "end": "2024-12-31"}
STATUS_LIMIT = 1000  # characters: a status line is a sentence, not a mirror of the input
HOSTILE_NAME = '=HYPERLINK("http://evil.example","<img src=x onerror=alert(1)>")'
CLICKABLE = [p.name for p in PANELS if p.selects]


async def _dashboard(db: Database, **kwargs: Any) -> GalleryDashboard:
    return await GalleryDashboard.create(
        db, filters=YEAR_2024, debounce_seconds=kwargs.pop("debounce_seconds", 0.01), **kwargs
    )


def _page_sets(dashboard: GalleryDashboard, **traits: Any) -> None:
    """Set traits as the page does (through the comm's state update, not set_filters)."""
    dashboard.set_state(traits)


# -- controls of wrong types, huge, unicode -----------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"start": 20240101}, id="start-int"),
        pytest.param({"start": ["2024-01-01"]}, id="start-list"),
        pytest.param({"start": {"toString": "2024-01-01"}}, id="start-object"),
        pytest.param({"end": "2024-02-30"}, id="end-impossible-date"),
        pytest.param({"status": ["sold", "available"]}, id="status-list"),
        pytest.param({"status": True}, id="status-bool"),
        pytest.param({"mediums": [["Print"]]}, id="mediums-nested"),
        pytest.param({"mediums": [f"M{i}" for i in range(100_000)]}, id="mediums-100k"),
        pytest.param({"mediums": ["x" * 1_000_000]}, id="medium-1MB"),
        pytest.param({"mediums": ["Print\x00"]}, id="medium-nul"),
        pytest.param({"mediums": ["\ud800"]}, id="medium-lone-surrogate"),
        pytest.param({"user_id": "' OR 1=1 --"}, id="user-sql"),
        pytest.param({"user_id": "\x00"}, id="user-nul"),
        pytest.param({"currency": "<img src=x onerror=alert(1)>"}, id="currency-html"),
        pytest.param({"currency": "E" * 1_000_000}, id="currency-1MB"),
        pytest.param({"currency": "EUR\u200b"}, id="currency-zero-width"),
        pytest.param({"__proto__": {"polluted": True}}, id="proto-key"),
        pytest.param({"constructor": {"prototype": {"x": 1}}}, id="constructor-key"),
    ],
)
async def test_hostile_controls_are_a_short_sentence_not_a_query(
    seeded_db: Database, changes: dict[str, Any]
) -> None:
    """A malformed control from the page is refused before any query, in a status line
    of bounded length; the view shown before stays, and nothing is left running."""
    dashboard = await _dashboard(seeded_db)
    completed, shown = dashboard.stats.completed, dashboard.view
    _page_sets(dashboard, controls={**dashboard.controls, **changes})
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "error", dashboard.status["text"][:300]
    assert len(dashboard.status["text"]) <= STATUS_LIMIT, len(dashboard.status["text"])
    assert "Traceback" not in dashboard.status["text"]
    assert dashboard.stats.completed == completed
    assert dashboard.view == shown
    await _assert_nothing_running(seeded_db)


@pytest.mark.parametrize(
    "selection",
    [
        pytest.param({"panel": "p" * 1_000_000, "filter": {"month": "2024-03"}}, id="panel-1MB"),
        pytest.param(
            {"panel": "monthly_revenue", "filter": {"k" * 1_000_000: "2024-03"}}, id="key-1MB"
        ),
        pytest.param(
            {"panel": "artworks_by_medium_status", "filter": {"medium": "Print\x00"}},
            id="medium-nul",
        ),
        pytest.param(
            {"panel": "artworks_by_medium_status", "filter": {"medium": "\ud800"}},
            id="medium-lone-surrogate",
        ),
        pytest.param(
            {"panel": "monthly_revenue", "filter": {"month": "2024-03", "__proto__": "x"}},
            id="proto-key",
        ),
        pytest.param(
            {"panel": "monthly_revenue", "filter": {"month": {"$gt": "2024-01"}}}, id="nested"
        ),
        pytest.param({"panel": "monthly_revenue", "filter": {"month": "0000-01"}}, id="year-0"),
        pytest.param(
            {"panel": ["monthly_revenue"], "filter": {"month": "2024-03"}}, id="panel-list"
        ),
    ],
)
async def test_hostile_cross_filters_are_a_short_sentence_not_a_query(
    seeded_db: Database, selection: dict[str, Any]
) -> None:
    dashboard = await _dashboard(seeded_db)
    completed, shown = dashboard.stats.completed, dashboard.view
    _page_sets(dashboard, selections=[selection])
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "error", dashboard.status["text"][:300]
    assert len(dashboard.status["text"]) <= STATUS_LIMIT, len(dashboard.status["text"])
    assert dashboard.stats.completed == completed
    assert dashboard.view == shown
    await _assert_nothing_running(seeded_db)


async def test_a_cross_filter_with_extra_keys_keeps_only_what_it_selects(
    seeded_db: Database,
) -> None:
    """Extra keys on a chip (a page's own label, anything else) do not survive: the
    chip the page shows is made here."""
    dashboard = await _dashboard(seeded_db)
    _page_sets(
        dashboard,
        selections=[
            {
                "panel": "monthly_revenue",
                "filter": {"month": "2024-03"},
                "label": "<img src=x onerror=alert(1)>",
                "__proto__": {"isAdmin": True},
                "panelHtml": "<script>",
            }
        ],
    )
    await dashboard.wait_idle()
    assert dashboard.selections == [
        {"panel": "monthly_revenue", "filter": {"month": "2024-03"}, "label": "Month: Mar 2024"}
    ]
    assert dashboard.status["state"] == "ok"


async def test_thousands_of_chips_are_not_accepted(seeded_db: Database) -> None:
    """A page can set the selections trait to any list: 5,000 copies of one click must
    not become 5,000 chips (nor 5,000 parses per panel per refresh). At most one
    cross-filter per clickable chart can exist, as clicking makes them."""
    dashboard = await _dashboard(seeded_db)
    flood = [{"panel": "monthly_revenue", "filter": {"month": "2024-03"}}] * 5000
    _page_sets(dashboard, selections=flood)
    await dashboard.wait_idle()
    assert len(dashboard.selections) <= len(CLICKABLE), len(dashboard.selections)


async def test_two_cross_filters_on_one_chart_from_a_link_are_refused_with_a_sentence(
    seeded_db: Database,
) -> None:
    """Clicking replaces a chart's cross-filter; a link may carry two for one chart."""
    dashboard = await _dashboard(seeded_db)
    _page_sets(
        dashboard,
        selections=[
            {"panel": "monthly_revenue", "filter": {"month": "2024-03"}},
            {"panel": "monthly_revenue", "filter": {"month": "2024-04"}},
        ],
    )
    await dashboard.wait_idle()
    # Either one of them (the last, as a click would) or an error: never a silent empty.
    if dashboard.status["state"] == "ok":
        assert len(dashboard.selections) == 1
    else:
        assert "month" in dashboard.status["text"]


# -- crafted custom messages ----------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(["download", "rows"], id="list"),
        pytest.param("download", id="string"),
        pytest.param(None, id="none"),
        pytest.param({"type": "shutdown"}, id="unknown-type"),
        pytest.param({"type": ["download"]}, id="type-list"),
        pytest.param({"type": "download", "what": ["rows"]}, id="what-list"),
        pytest.param({"type": "download", "what": {"rows": 1}}, id="what-dict"),
        pytest.param({"type": "download", "what": "../../etc/passwd"}, id="what-path"),
        pytest.param({"type": "select", "panel": {"x": 1}, "filter": {}}, id="select-panel-dict"),
        pytest.param({"type": "select"}, id="select-empty"),
    ],
)
async def test_crafted_messages_never_raise_in_the_comm_handler(
    seeded_db: Database, message: Any
) -> None:
    """An exception in a comm handler is a traceback in the kernel's log and, in
    JupyterLab, in the page: a crafted message must be ignored or refused with a
    sentence, and start no download."""
    dashboard = await _dashboard(seeded_db)
    sent: list[Any] = []
    dashboard.send = lambda content, buffers=None: sent.append(content)
    dashboard._on_message(dashboard, message, [])
    await dashboard.wait_idle()
    assert dashboard._download_task is None
    assert sent == []


async def test_download_spam_while_one_runs_starts_one_download(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fifty download requests while one is being prepared: one extraction, one file."""
    from gallery_analytics.widgets import downloads

    real = downloads.sales_parquet
    calls = 0

    async def slow_parquet(db: Database, filters: Any) -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5)
        return await real(db, filters)

    monkeypatch.setattr(downloads, "sales_parquet", slow_parquet)
    dashboard = await _dashboard(seeded_db)
    sent: list[Any] = []
    monkeypatch.setattr(dashboard, "send", lambda content, buffers=None: sent.append(content))
    for _ in range(50):
        dashboard._on_message(dashboard, {"type": "download", "what": "rows"}, [])
        dashboard._on_message(dashboard, {"type": "download", "what": "report"}, [])
    assert dashboard._download_task is not None
    await dashboard._download_task
    assert calls == 1
    assert len(sent) == 1
    assert sent[0]["filename"].endswith(".parquet")
    assert seeded_db.pool_status()["checked_out"] == 0


async def test_a_download_finishing_does_not_hide_a_filter_error(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the sales download is prepared the analyst types an impossible period: the
    status line says the filters are wrong (the charts still show the old period). The
    download finishing must not replace that with "Downloaded ..." in state "ok", which
    tells the page (and a screen reader) that all is well while the view is stale."""
    from gallery_analytics.widgets import downloads

    real = downloads.sales_parquet
    release = asyncio.Event()

    async def slow_parquet(db: Database, filters: Any) -> bytes:
        await release.wait()
        return await real(db, filters)

    monkeypatch.setattr(downloads, "sales_parquet", slow_parquet)
    dashboard = await _dashboard(seeded_db)
    monkeypatch.setattr(dashboard, "send", lambda content, buffers=None: None)
    dashboard._on_message(dashboard, {"type": "download", "what": "rows"}, [])
    await asyncio.sleep(0.05)
    _page_sets(dashboard, controls={**dashboard.controls, "start": "2025-06-01"})
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "error"
    release.set()
    assert dashboard._download_task is not None
    await dashboard._download_task
    assert dashboard.status["state"] == "error", dashboard.status


async def test_a_refresh_finishing_does_not_hide_a_download_in_progress(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The converse: a filter change while the sales are prepared. When the refresh ends
    the page must still be able to tell a download is being prepared (else an analyst
    clicks again and is told "already being prepared" with nothing on screen)."""
    from gallery_analytics.widgets import downloads

    release = asyncio.Event()
    real = downloads.sales_parquet

    async def slow_parquet(db: Database, filters: Any) -> bytes:
        await release.wait()
        return await real(db, filters)

    monkeypatch.setattr(downloads, "sales_parquet", slow_parquet)
    dashboard = await _dashboard(seeded_db)
    monkeypatch.setattr(dashboard, "send", lambda content, buffers=None: None)
    dashboard._on_message(dashboard, {"type": "download", "what": "rows"}, [])
    await asyncio.sleep(0.05)
    dashboard.set_filters(status="sold")
    await dashboard.wait_idle()
    try:
        shown = json.dumps(dashboard.get_state())
        assert "Preparing" in shown or "prepar" in shown.lower(), dashboard.status
    finally:
        release.set()
        assert dashboard._download_task is not None
        await dashboard._download_task


# -- what the downloads hold -----------------------------------------------------------------


async def test_the_report_export_holds_the_cross_filters_shown_as_chips(
    seeded_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    no_blocking_calls_in_the_event_loop: BlockBuster,
) -> None:
    """With a chip "Medium: Photography" on screen, "Export report" must report on
    Photography (as the sales download does), not silently on every medium."""
    asked: list[Any] = []

    def fake_execute(parameters: Any, target: Any, *, progress: bool) -> Any:
        asked.append(parameters)
        target.write_text("<html></html>", encoding="utf-8")
        return type("Report", (), {"html_path": target})()

    monkeypatch.setattr(reports, "execute_report", fake_execute)
    dashboard = await _dashboard(seeded_db)
    dashboard.select("artworks_by_medium_status", {"medium": "Photography"})
    await dashboard.wait_idle()
    assert [s["label"] for s in dashboard.selections] == ["Medium: Photography"]
    no_blocking_calls_in_the_event_loop.deactivate()  # see the test of blocking below
    await dashboard.report_html()
    [parameters] = asked
    assert "Photography" in repr(parameters), parameters


async def test_the_report_export_holds_a_month_cross_filter(
    seeded_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    no_blocking_calls_in_the_event_loop: BlockBuster,
) -> None:
    """A click on March narrows the view to March: the report's period must be March."""
    asked: list[Any] = []

    def fake_execute(parameters: Any, target: Any, *, progress: bool) -> Any:
        asked.append(parameters)
        target.write_text("<html></html>", encoding="utf-8")
        return type("Report", (), {"html_path": target})()

    monkeypatch.setattr(reports, "execute_report", fake_execute)
    dashboard = await _dashboard(seeded_db)
    dashboard.select("monthly_revenue", {"month": "2024-03"})
    await dashboard.wait_idle()
    no_blocking_calls_in_the_event_loop.deactivate()  # see the test of blocking below
    name, _, _ = await dashboard.report_html()
    assert name == "gallery-report-2024-03-01-to-2024-03-31.html"


async def test_preparing_the_report_does_no_file_io_on_the_kernel_loop(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's event loop serves every page message: the export's scratch
    directory (made and removed around the report) must not be made on it. Papermill is
    replaced here, so only the dashboard's own code runs on the loop."""

    def fake_execute(parameters: Any, target: Any, *, progress: bool) -> Any:
        target.write_text("<html></html>", encoding="utf-8")
        return type("Report", (), {"html_path": target})()

    monkeypatch.setattr(reports, "execute_report", fake_execute)
    dashboard = await _dashboard(seeded_db)
    name, mime, payload = await dashboard.report_html()  # blockbuster is on
    assert (name, mime, payload) == (
        "gallery-report-2024-01-01-to-2024-12-31.html",
        "text/html",
        b"<html></html>",
    )


async def test_the_sales_download_matches_the_view_under_every_cross_filter(
    seeded_db: Database,
) -> None:
    """Month + medium/status + artist clicks at once: the Parquet rows are the sales the
    service counts for the combined filters, and their sum is the revenue it sums."""
    dashboard = await _dashboard(seeded_db)
    top = _shown(dashboard, "top_artists")["figure"]["data"][0]
    artist = json.loads(top["ids"][0])
    dashboard.select("monthly_revenue", {"month": "2024-05"})
    dashboard.select("top_artists", artist)
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "ok", dashboard.status
    _, _, payload = await dashboard.rows_parquet()
    rows = pd.read_parquet(io.BytesIO(payload))
    expected = await DashboardService(seeded_db).get_gallery_overview(
        {"start": "2024-05-01", "end": "2024-05-31", "artist_id": artist["artist_id"]}
    )
    monthly = to_frame(expected["monthly_revenue"])
    assert len(rows) == monthly["sales"].sum()
    assert rows["amount_eur"].sum() == pytest.approx(monthly["revenue"].sum())
    assert set(rows["sale_id"]).__len__() == len(rows)


async def test_every_csv_is_the_table_the_chart_shows(seeded_db: Database) -> None:
    """Under a cross-filter, each chart's CSV is what a dashboard opened on the narrowed
    filters shows (and the chart clicked keeps its unnarrowed data, so does its CSV)."""
    dashboard = await _dashboard(seeded_db)
    whole = {p["name"]: p["csv"] for p in dashboard.view["panels"]}
    dashboard.select("artworks_by_medium_status", {"medium": "Photography"})
    await dashboard.wait_idle()
    narrowed_dashboard = await GalleryDashboard.create(
        seeded_db, filters={**YEAR_2024, "mediums": ["Photography"]}
    )
    narrowed = {p["name"]: p["csv"] for p in narrowed_dashboard.view["panels"]}
    assert whole.keys() == narrowed.keys()
    for name in whole:
        expected = whole[name] if name == "artworks_by_medium_status" else narrowed[name]
        assert expected, name
        assert _shown(dashboard, name)["csv"] == expected, name
    assert whole["top_artists"] != narrowed["top_artists"]  # the click did narrow


@pytest.fixture
async def hostile_names_db(fresh_db: Database) -> Database:
    """A private copy of the demo data whose best-selling artist of 2024 has a hostile
    name (HTML, a spreadsheet formula)."""
    overview = await DashboardService(fresh_db).get_gallery_overview(YEAR_2024)
    artist_id = str(to_frame(overview["top_artists"])["artist_id"].iloc[0])
    async with fresh_db.write_session() as session:
        await session.execute(
            update(Artist).where(Artist.id == artist_id).values(name=HOSTILE_NAME)
        )
    return fresh_db


async def test_a_hostile_artist_name_reaches_the_page_only_as_text(
    hostile_names_db: Database,
) -> None:
    dashboard = await _dashboard(hostile_names_db)
    table = _shown(dashboard, "top_artists")["table"]
    assert "<img" not in table
    assert "&lt;img src=x onerror=alert(1)&gt;" in table
    figure = json.dumps(_shown(dashboard, "top_artists")["figure"])
    assert "<img" not in figure  # plotly turns some tags into markup: entities only


async def test_a_csv_download_cannot_run_a_formula_in_a_spreadsheet(
    hostile_names_db: Database,
) -> None:
    """CSV injection (OWASP): a cell starting with = + - @ opens as a formula in Excel and
    LibreOffice. Data values in the CSV must not start a formula."""
    dashboard = await _dashboard(hostile_names_db)
    rows = list(csv.reader(io.StringIO(_shown(dashboard, "top_artists")["csv"])))
    texts = [cell for row in rows[1:] for cell in row]
    formulas = [v for v in texts if v[:1] in ("=", "+", "@") or v.startswith("-=")]
    assert formulas == [], formulas


# -- credentials -------------------------------------------------------------------------------


async def test_no_connection_detail_in_anything_the_page_receives(seeded_db: Database) -> None:
    """The test server has no password, so look for what a URL would carry: the
    database name, the roles, the scheme."""
    url = seeded_db.url
    dashboard = await _dashboard(seeded_db)
    _page_sets(
        dashboard,
        controls={**dashboard.controls, "user_id": "123e4567-e89b-12d3-a456-426614174000"},
    )
    await dashboard.wait_idle()
    state = {k: v for k, v in dashboard.get_state().items() if k != "plotly_source"}
    text = json.dumps(state, default=str)
    for secret in (str(url.database), "postgresql", f"{url.host}:{url.port}"):
        assert secret not in text, secret
    _, _, payload = await dashboard.rows_parquet()
    assert str(url.database).encode() not in payload


async def test_a_database_failure_in_a_refresh_leaks_no_credential(
    seeded_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure whose message carries the connection URL (as SQLAlchemy's do, "[SQL:"
    and "Background on this error" included) must not be shown to the page verbatim."""
    dashboard = await _dashboard(seeded_db)
    url = seeded_db.url.set(password="s3cret-hostile").render_as_string(hide_password=False)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"could not connect to {url}")

    monkeypatch.setattr(dashboard.service, "get_gallery_overview", broken)
    dashboard.set_filters(status="sold")
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "error"
    assert "s3cret-hostile" not in dashboard.status["text"], dashboard.status


# -- concurrency ---------------------------------------------------------------------------


async def test_rapid_changes_and_clicks_while_refreshing_end_on_the_final_state(
    seeded_db: Database,
) -> None:
    """Forty filter changes and chart clicks, interleaved, at random intervals around the
    debounce, against a slow panel so refreshes are in flight: the view ends equal to the
    service's answer for the final state, nothing runs on the server, no connection is
    held."""
    panels = [_slow(p, 0.3) if p.name == "exhibition_attendance" else p for p in PANELS]
    dashboard = await _dashboard(seeded_db, panels=panels, debounce_seconds=0.05)
    chance = random.Random(12)
    statuses = ["", "sold", "available", "reserved", "on_loan"]
    mediums = await DashboardService(seeded_db).list_mediums()
    for _ in range(40):
        action = chance.randrange(4)
        if action == 0:
            dashboard.set_filters(status=chance.choice(statuses))
        elif action == 1:
            dashboard.set_filters(mediums=chance.sample(mediums, chance.randrange(0, 3)))
        elif action == 2:
            month = f"2024-{chance.randrange(1, 13):02d}"
            dashboard._on_message(
                dashboard,
                {"type": "select", "panel": "monthly_revenue", "filter": {"month": month}},
                [],
            )
        else:
            dashboard.clear_selections()
        await asyncio.sleep(chance.choice([0.0, 0.01, 0.06, 0.2, 0.4]))
    # A last, valid state.
    dashboard.set_filters(status="sold", mediums=[])
    dashboard._on_message(
        dashboard,
        {"type": "select", "panel": "monthly_revenue", "filter": {"month": "2024-06"}},
        [],
    )
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "ok", dashboard.status
    assert dashboard.view["asked"] == {
        "controls": dashboard.controls,
        "selections": dashboard.selections,
    }
    service = DashboardService(seeded_db)
    june = await service.get_gallery_overview(
        {"start": "2024-06-01", "end": "2024-06-30", "status": "sold"}
    )
    assert _kpi(dashboard, "artworks") == f"{to_frame(june['key_figures'])['artworks'][0]:,}"
    assert (
        _trace(dashboard, "top_artists")["x"] == to_frame(june["top_artists"])["revenue"].tolist()
    )
    year = await service.get_gallery_overview({**YEAR_2024, "status": "sold"})
    assert _trace(dashboard, "monthly_revenue")["y"] == (
        to_frame(year["monthly_revenue"])["revenue"].tolist()
    )
    await _assert_nothing_running(seeded_db)


async def test_closing_the_widget_mid_refresh_stops_its_queries(seeded_db: Database) -> None:
    """A page closed (JupyterLab re-running the cell, or ``dashboard.close()``) while a
    refresh runs: its queries are cancelled and its connections returned, and nothing is
    sent to the closed comm afterwards."""
    panels = [_slow(p, 5.0) if p.name == "exhibition_attendance" else p for p in PANELS]
    dashboard = await _dashboard(seeded_db, panels=panels)
    dashboard.set_filters(status="sold")
    for _ in range(200):
        if await _running_queries(seeded_db):
            break
        await asyncio.sleep(0.02)
    assert await _running_queries(seeded_db)
    dashboard.close()
    await asyncio.sleep(0.5)
    try:
        assert await _running_queries(seeded_db) == []
        assert dashboard._task is None or dashboard._task.done()
    finally:
        if dashboard._task is not None:
            dashboard._task.cancel()
            await asyncio.gather(dashboard._task, return_exceptions=True)
    await _assert_nothing_running(seeded_db)


# -- empty periods and empty databases ----------------------------------------------------


async def test_a_period_with_no_data_shows_empty_panels_not_errors(seeded_db: Database) -> None:
    dashboard = await _dashboard(seeded_db)
    _page_sets(
        dashboard, controls={**dashboard.controls, "start": "1990-01-01", "end": "1990-12-31"}
    )
    await dashboard.wait_idle()
    assert dashboard.status["state"] == "ok", dashboard.status
    assert "failed" not in dashboard.status["text"]
    for panel in dashboard.view["panels"]:
        assert panel["state"] == "ok", (panel["name"], panel["error"])
        assert "<table" in panel["table"]
    assert _kpi(dashboard, "artworks") in ("0", "-")


async def test_a_dashboard_of_an_empty_database_opens(empty_db: Database) -> None:
    dashboard = await GalleryDashboard.create(empty_db, debounce_seconds=0.01)
    assert dashboard.status["state"] == "ok", dashboard.status
    for panel in dashboard.view["panels"]:
        assert panel["state"] == "ok", (panel["name"], panel["error"])
