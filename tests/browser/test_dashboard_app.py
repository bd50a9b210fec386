"""The served dashboard as an app, in headless Chromium on a busy machine: shareable
links, cross-filtering by clicking the charts, downloads, dark mode, narrow screens.

Every check compares what the page draws with the service's results for the same
filters (``ServiceOracle``), never with "it changed".
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gallery_analytics import panels
from gallery_analytics.services.dashboard import DashboardService
from tests.browser.dashboard_page import CHART_PANELS, DashboardPage, ServiceOracle, View
from tests.browser.harness import ServedDashboard

TIMEOUT = 90.0  # seconds per view: the machine is kept busy on purpose
SPRING = {"start": "2024-03-01", "end": "2024-06-30"}


def _open(browser: Any, url: str, **context: Any) -> DashboardPage:
    page = browser.new_context(accept_downloads=True, **context).new_page()
    page.set_default_timeout(TIMEOUT * 1000)
    dashboard = DashboardPage(page)
    page.goto(url, timeout=TIMEOUT * 1000)
    return dashboard


def _combined(
    oracle: ServiceOracle, filters: Mapping[str, Any], own: Mapping[str, Mapping[str, Any]]
) -> View:
    """The view when the panels in ``own`` are loaded with their own filters (a
    cross-filter does not narrow the chart it was made on) and the rest with ``filters``."""
    base = oracle.view(filters)
    charts = tuple(
        oracle.view(own[chart.panel]).charts[CHART_PANELS.index(chart.panel)]
        if chart.panel in own
        else chart
        for chart in base.charts
    )
    return dataclasses.replace(base, charts=charts)


def _query(page: DashboardPage) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlparse(page.page.url).query)


def test_a_link_restores_the_filters_and_the_url_follows_changes(
    served_dashboard: ServedDashboard,
    oracle: ServiceOracle,
    browser: Any,
    cpu_burners: list[subprocess.Popen[bytes]],
) -> None:
    medium = oracle.mediums()[0]
    query = urllib.parse.urlencode({**SPRING, "medium": medium, "status": "sold"})
    link = f"{served_dashboard.url}?{query}"
    page = _open(browser, link)
    filters = {**SPRING, "mediums": [medium], "status": "sold"}
    page.wait_for(oracle.view(filters), timeout=TIMEOUT, what=f"opening {link}")
    assert page.page.input_value(".gallery-start input") == SPRING["start"]
    assert page.page.eval_on_selector(
        ".gallery-mediums select", "s => [...s.selectedOptions].map(o => o.value)"
    ) == [medium]

    page.set_status("available")
    page.wait_for(
        oracle.view({**filters, "status": "available"}), timeout=TIMEOUT, what="status change"
    )
    query = _query(page)
    assert query["status"] == ["available"]
    assert query["medium"] == [medium]
    assert query["start"] == [SPRING["start"]]
    assert page.page.title() == f"Gallery dashboard · {SPRING['start']} to {SPRING['end']}"
    assert page.unexpected_problems() == []


def _chips(page: DashboardPage) -> list[str]:
    return [str(t) for t in page.page.locator(".gallery-chip > span:first-child").all_inner_texts()]


def _click_point(page: DashboardPage, panel: str, selector: str, index: int = 0) -> None:
    """Click a drawn point of ``panel``'s chart, as an analyst does."""
    points = page.page.locator(f".gallery-chart[data-panel='{panel}'] {selector}")
    points.nth(index).click(force=True)


def test_clicking_the_charts_cross_filters_the_other_panels(
    served_dashboard: ServedDashboard,
    oracle: ServiceOracle,
    browser: Any,
    cpu_burners: list[subprocess.Popen[bytes]],
) -> None:
    page = _open(browser, f"{served_dashboard.url}?{urllib.parse.urlencode(SPRING)}")
    page.wait_for(oracle.view(SPRING), timeout=TIMEOUT, what="opening the spring view")

    # A month bar: every other panel narrows to that month; the revenue chart does not.
    _click_point(page, "monthly_revenue", ".point path", index=1)  # April
    april = {"start": "2024-04-01", "end": "2024-04-30"}
    page.wait_for(
        _combined(oracle, april, {"monthly_revenue": SPRING}),
        timeout=TIMEOUT,
        what="clicking April in the revenue chart",
    )
    assert _chips(page) == ["Month: Apr 2024"]
    assert _query(page)["select"] == ['monthly_revenue:{"month":"2024-04"}']

    # A status tile inside a medium tile of the treemap narrows by both, on top.
    overview = oracle._run(lambda: DashboardService(oracle._db).get_gallery_overview(SPRING))
    treemap = panels.draw(overview["artworks_by_medium_status"]).to_plotly_json()["data"][0]
    leaf = next(i for i, node in enumerate(treemap["ids"]) if '"status"' in str(node))
    chosen = json.loads(treemap["ids"][leaf])
    page.page.evaluate(
        """([id]) => {
            const plot = document.querySelector(
                ".gallery-chart[data-panel='artworks_by_medium_status'] .js-plotly-plot");
            const i = plot.data[0].ids.indexOf(id);
            plot.emit("plotly_click", {points: [{id, pointNumber: i, data: plot.data[0]}]});
        }""",
        [treemap["ids"][leaf]],
    )
    both = {**april, "mediums": [chosen["medium"]], "status": chosen["status"]}
    page.wait_for(
        _combined(
            oracle,
            both,
            {
                "monthly_revenue": {
                    **SPRING,
                    "mediums": [chosen["medium"]],
                    "status": chosen["status"],
                },
                "artworks_by_medium_status": april,
            },
        ),
        timeout=TIMEOUT,
        what=f"clicking {chosen} in the treemap",
    )
    assert _chips(page) == [
        "Month: Apr 2024",
        f"Medium: {chosen['medium']} · Status: {chosen['status'].replace('_', ' ')}",
    ]

    # Removing the month chip keeps the medium and status; "clear all" resets.
    page.page.locator(".gallery-chip[data-panel='monthly_revenue'] .gallery-chip-remove").click()
    medium_only = {**SPRING, "mediums": [chosen["medium"]], "status": chosen["status"]}
    page.wait_for(
        _combined(oracle, medium_only, {"artworks_by_medium_status": SPRING}),
        timeout=TIMEOUT,
        what="removing the month chip",
    )
    page.page.locator(".gallery-clear").click()
    page.wait_for(oracle.view(SPRING), timeout=TIMEOUT, what="clear all")
    assert page.page.locator(".gallery-chip").count() == 0
    assert "select" not in _query(page)
    assert page.unexpected_problems() == []


def test_downloads_hold_what_the_view_shows(
    served_dashboard: ServedDashboard, oracle: ServiceOracle, browser: Any, tmp_path: Path
) -> None:
    filters = {**SPRING, "status": "sold"}
    page = _open(browser, f"{served_dashboard.url}?{urllib.parse.urlencode(filters)}")
    page.wait_for(oracle.view(filters), timeout=TIMEOUT, what="opening the sold view")
    overview = oracle._run(lambda: DashboardService(oracle._db).get_gallery_overview(filters))

    with page.page.expect_download() as csv_download:
        page.page.locator(".gallery-chart[data-panel='top_artists'] .gallery-csv").click()
    saved = csv_download.value
    assert saved.suggested_filename == "top_artists-2024-03-01-to-2024-06-30.csv"
    text = Path(saved.path()).read_bytes().decode("utf-8")  # as saved: CRLF rows (RFC 4180)
    assert text == panels.table_csv(overview["top_artists"])

    with page.page.expect_download(timeout=TIMEOUT * 1000) as rows_download:
        page.page.locator(".gallery-rows").click()
    rows = pd.read_parquet(io.BytesIO(Path(rows_download.value.path()).read_bytes()))
    monthly = panels.table(overview["monthly_revenue"])
    assert len(rows) == sum(int(n.replace(",", "")) for n in monthly.iloc[:, 1])
    assert set(rows["status"]) <= {"sold"}

    with page.page.expect_download(timeout=300_000) as report_download:
        page.page.locator(".gallery-export").click()
    report = report_download.value
    assert report.suggested_filename == "gallery-report-2024-03-01-to-2024-06-30.html"
    html = Path(report.path()).read_text(encoding="utf-8")
    assert "<title>Gallery report, 2024-03-01 to 2024-06-30" in html
    assert html.count("Plotly.newPlot(") == len(CHART_PANELS)
    assert page.unexpected_problems() == []


@pytest.mark.parametrize("width", [420, 900, 1600])
def test_an_app_in_dark_mode_at_any_width(
    served_dashboard: ServedDashboard, oracle: ServiceOracle, browser: Any, width: int
) -> None:
    page = _open(
        browser,
        f"{served_dashboard.url}?{urllib.parse.urlencode(SPRING)}",
        color_scheme="dark",
        viewport={"width": width, "height": 900},
    )
    page.wait_for(oracle.view(SPRING), timeout=TIMEOUT, what="opening in dark mode")
    page.page.wait_for_timeout(300)  # plotly's resize after layout settles
    layout = page.page.evaluate(
        """() => {
            const root = document.querySelector('.gallery-dashboard');
            const cards = [...document.querySelectorAll('.gallery-chart')].map(card => {
                const svg = card.querySelector('svg.main-svg');
                return {card: card.getBoundingClientRect().width,
                        svg: svg ? svg.getBoundingClientRect().width : 0};
            });
            return {background: getComputedStyle(root).backgroundColor,
                    colour: getComputedStyle(root).color,
                    text: document.body.innerText,
                    status: document.querySelector('.gallery-status-line')
                        .getAttribute('aria-live'),
                    tables: document.querySelectorAll('.gallery-chart table').length,
                    scroll: document.documentElement.scrollWidth,
                    colorways: [...document.querySelectorAll('.js-plotly-plot')]
                        .map(plot => plot._fullLayout.colorway[0]),
                    cards};
        }"""
    )
    red, green, blue = (int(n) for n in layout["background"][4:-1].split(",")[:3])
    assert red + green + blue < 150, layout["background"]  # a dark page
    text_red = int(layout["colour"][4:-1].split(",")[0])
    assert text_red > 180, layout["colour"]  # light text on it
    for card in layout["cards"]:  # every chart fits its column
        assert 0 < card["svg"] <= card["card"] + 1, layout["cards"]
    assert layout["scroll"] <= width + 1  # nothing wider than the screen
    assert layout["status"] == "polite"
    assert set(layout["colorways"]) == {"#E69F00"}  # the gallery's template, sent once
    assert layout["tables"] == len(CHART_PANELS)  # the text behind every chart
    for developer_text in (".venv", "voila ", "Voila", " ms", "Traceback", "ipynb"):
        assert developer_text not in layout["text"], developer_text


def test_a_hostile_link_is_a_sentence_not_a_query(
    served_dashboard: ServedDashboard, oracle: ServiceOracle, browser: Any
) -> None:
    """Parameters from a link are input like any other: a bad one is reported in the
    status line, the page stays usable, and nothing from it reaches the page as HTML."""
    hostile = {
        **SPRING,
        "status": "<img src=x onerror=window.pwned=1>",
        "select": 'monthly_revenue:{"month": "<script>window.pwned=1</script>"}',
    }
    page = _open(browser, f"{served_dashboard.url}?{urllib.parse.urlencode(hostile)}")
    page.page.wait_for_function(
        "() => document.querySelector('.gallery-status-line')?.dataset.state === 'error'",
        timeout=TIMEOUT * 1000,
    )
    assert "status" in page.page.inner_text(".gallery-status-line")
    assert page.page.evaluate("() => window.pwned === undefined")
    assert page.page.locator(".gallery-dashboard img").count() == 0
    page.page.locator(".gallery-clear").click()
    page.set_status("sold")
    page.wait_for(
        oracle.view({**SPRING, "status": "sold"}), timeout=TIMEOUT, what="fixing the link"
    )
