"""The exported report in a real headless Chromium: every chart drawn, no console errors.

Chromium is Debian's package (`make test` installs it when missing); Playwright drives it
through ``executable_path`` because no browser can be downloaded here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing in CI; `make test` should have installed it")
    pytest.skip("Chromium is not installed (make browser installs it)", allow_module_level=True)


def test_every_chart_renders_without_console_errors(
    demo_report: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    html_path = demo_report[0]
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
            page.goto(html_path.as_uri())
            page.wait_for_function(
                """() => {
                    const charts = [...document.querySelectorAll('.plotly-graph-div')];
                    const drawn = charts.filter(c => c.querySelector('svg.main-svg'));
                    return charts.length === 6 && drawn.length === 6;
                }""",
                timeout=60_000,
            )
            drawn = page.eval_on_selector_all(
                ".plotly-graph-div",
                "charts => charts.map(c => [c.id, c.querySelectorAll('.trace, .slice').length])",
            )
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert [chart_id for chart_id, _ in drawn] == [f"chart-{n}" for n in range(1, 7)]
    assert all(traces > 0 for _, traces in drawn), drawn
    assert screenshot.stat().st_size > 50_000


# -- stored XSS: data and parameters are shown as text, never run (issue 10 #10) ---------------

MEDIUM = "<img src=x onerror=alert(document.domain)>"
ARTIST = "<script>window.__pwned = 'artist'</script><b onmouseover=alert(2)>Eve</b>"
NATIONALITY = "<svg onload=\"window.__pwned='nationality'\">"
TITLE = "<iframe src=javascript:window.__pwned='title'>"


@pytest.fixture
def hostile_report(fresh_db: Any, tmp_path: Path) -> Path:
    """A report of data whose free text is markup: 2024's best-selling artist is renamed,
    and every artwork of theirs gets a hostile medium and title; the report is then
    filtered on that medium (a parameter that reaches the heading)."""
    import asyncio

    from sqlalchemy import text

    from tests.conftest import run_cli

    async def poison() -> None:
        # Closes the pool this asyncio.run loop opened before the loop ends; fresh_db
        # stays usable (the fixture disposes it again at teardown).
        async with fresh_db, fresh_db.write_session() as session:
            artist_id = await session.scalar(
                text(
                    "SELECT w.artist_id FROM sales s JOIN artworks w ON w.id = s.artwork_id "
                    "WHERE s.sold_at >= '2024-01-01' AND s.sold_at < '2025-01-01' "
                    "AND s.currency = 'EUR' GROUP BY w.artist_id ORDER BY sum(s.price) DESC "
                    "LIMIT 1"
                )
            )
            await session.execute(
                text("UPDATE artists SET name = :name, nationality = :nat WHERE id = :id"),
                {"name": ARTIST, "nat": NATIONALITY, "id": artist_id},
            )
            await session.execute(
                text("UPDATE artworks SET medium = :medium, title = :title WHERE artist_id = :id"),
                {"medium": MEDIUM, "title": TITLE, "id": artist_id},
            )

    asyncio.run(poison())
    out = tmp_path / "hostile.html"
    result = run_cli(
        "report",
        "--out",
        str(out),
        "--no-progress",
        "--param",
        f"medium={MEDIUM}",
        "--param",
        "start=2024-01-01",
        "--param",
        "end=2024-12-31",
        database_url=fresh_db.url,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_hostile_values_are_shown_as_text_and_never_run(hostile_report: Path) -> None:
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(hostile_report.as_uri())
            page.wait_for_function(
                "() => document.querySelectorAll('.plotly-graph-div svg.main-svg').length >= 6",
                timeout=60_000,
            )
            for chart in page.query_selector_all(".plotly-graph-div"):  # hover every chart
                chart.hover()
            state = page.evaluate(
                """() => ({
                    pwned: window.__pwned ?? null,
                    injected: document.querySelectorAll(
                        'img[src="x"], script:not([type]):not([src]) ~ b, iframe, svg[onload]'
                    ).length,
                    handlers: [...document.querySelectorAll('*')].filter(
                        e => [...e.attributes].some(a => a.name.startsWith('on'))
                    ).length,
                    text: document.body.innerText,
                    svg: [...document.querySelectorAll('svg text')].map(t => t.textContent),
                    share: document.querySelectorAll('.modebar-btn[data-title^="Share"]').length,
                    buttons: document.querySelectorAll('.modebar-btn').length,
                })"""
            )
        finally:
            browser.close()
    assert dialogs == []
    assert state["pwned"] is None
    assert state["injected"] == 0
    assert state["handlers"] == 0
    assert MEDIUM in state["text"]  # the heading shows the parameter literally
    assert ARTIST in state["text"]  # the top-artists table
    shown = "\n".join(state["svg"])
    assert MEDIUM in shown  # treemap tile
    assert ARTIST in shown  # bar chart tick label
    assert state["buttons"] > 0
    assert state["share"] == 0


# -- a report a director can read (issue 12 #7) -------------------------------------------------


def _overview(db: Any, **filters: Any) -> Any:
    """The service's overview for ``filters``, loaded on a loop of its own (the browser
    tests are synchronous); the pool that loop opened is closed before it ends."""
    import asyncio

    from gallery_analytics import DashboardService, OverviewFilters

    async def load() -> Any:
        async with db:
            return await DashboardService(db).get_gallery_overview(OverviewFilters(**filters))

    return asyncio.run(load())


def _read(html_path: Path, script: str, *, charts: int = 6) -> Any:
    """``script`` evaluated in Chromium once the report's charts are drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(html_path.as_uri())
            page.wait_for_function(
                "n => document.querySelectorAll('.plotly-graph-div svg.main-svg').length >= n",
                arg=charts,
                timeout=60_000,
            )
            return page.evaluate(script)
        finally:
            browser.close()


TABLES = """() => [...document.querySelectorAll('table')].map(t => ({
    panel: t.dataset.panel ?? null,
    caption: t.caption ? t.caption.innerText.trim() : null,
    rows: [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim())),
    aligned: [...(t.tBodies[0]?.rows[0]?.cells ?? [])].map(c => getComputedStyle(c).textAlign),
}))"""


def test_tables_show_formatted_values_without_an_index(
    demo_report: tuple[Path, subprocess.CompletedProcess[str]], seeded_db: Any
) -> None:
    """The tables as Chromium renders them equal the service's values formatted by
    pandas/Python here: thousands separators, money rounded as declared, shares as
    percentages, headings with the currency, and no index column (the report showed
    pandas' "0" column and, before that, 1592900 and 287160.0)."""
    import pandas as pd

    from gallery_analytics.frames import to_frame

    tables = _read(demo_report[0], TABLES)
    overview = _overview(seeded_db, start="2024-01-01", end="2024-06-30", mediums=["Photography"])
    figures = to_frame(overview["key_figures"]).iloc[0]
    currency = next(c.unit for c in overview["key_figures"].columns if c.name == "revenue")
    expected_figures = [
        ["Artworks", f"Revenue ({currency})", "Exhibitions open", "Visitors"],
        [
            f"{int(figures['artworks']):,}",
            f"{float(figures['revenue']):,.0f}",
            f"{int(figures['active_exhibitions']):,}",
            f"{int(figures['visitors']):,}",
        ],
    ]
    artists = to_frame(overview["top_artists"])
    expected_artists = [
        ["Rank", "Artist", "Nationality", "Sales", f"Revenue ({currency})", "Share of revenue"],
        *(
            [
                str(row.rank),
                row.artist,
                "-" if pd.isna(row.nationality) else row.nationality,
                f"{int(row.sales):,}",
                f"{float(row.revenue):,.2f}",
                f"{float(row.share):.1%}",
            ]
            for row in artists.itertuples()
        ),
    ]
    assert [table["panel"] for table in tables] == ["key_figures", "top_artists"]
    assert tables[0]["caption"] == "Key figures"
    assert tables[0]["rows"] == expected_figures
    assert tables[1]["rows"] == expected_artists
    assert len(expected_artists) > 2
    assert tables[0]["aligned"] == ["right"] * 4
    assert tables[1]["aligned"] == ["right", "left", "left", "right", "right", "right"]


@pytest.fixture(scope="module")
def short_report(seeded_db: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of five weeks, 15 October to 20 November 2024 (a Wednesday)."""
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("short") / "short.html"
    result = run_cli(
        "report",
        "--out",
        str(out),
        "--no-progress",
        "--param",
        "start=2024-10-15",
        "--param",
        "end=2024-11-20",
        database_url=seeded_db.url,
    )
    assert result.returncode == 0, result.stderr
    return out


AXES = """() => [...document.querySelectorAll('.plotly-graph-div')].map(c => ({
    title: c.querySelector('.gtitle')?.textContent ?? '',
    ticks: [...c.querySelectorAll('.xtick text')].map(t => t.textContent),
    notes: [...c.querySelectorAll('.annotation-text')].map(t => t.textContent),
    buttons: [...c.querySelectorAll('.modebar-btn')].map(b => b.dataset.title),
}))"""


def test_a_short_range_names_each_period_once_and_marks_the_partial_ones(
    short_report: Path,
) -> None:
    """Read from the SVG Chromium drew: no time axis repeats a label (the monthly chart
    read "Oct 2024, Oct 2024, Nov 2024, ..."), both months and the first and last weeks
    are partial (the period starts on a Tuesday and ends on a Wednesday) and say so, and
    no chart offers to upload itself to Plotly's cloud."""
    charts = {chart["title"]: chart for chart in _read(short_report, AXES)}
    for title, chart in charts.items():
        assert len(chart["ticks"]) == len(set(chart["ticks"])), (title, chart["ticks"])
        assert not any(
            (button or "").lower().startswith(("share", "edit in chart studio"))
            for button in chart["buttons"]
        ), (title, chart["buttons"])
    revenue = charts["Revenue by month"]
    assert revenue["ticks"] == ["Oct 2024", "Nov 2024"]
    assert revenue["notes"] == ["partial", "partial"]
    attendance = charts["Exhibition attendance"]
    assert attendance["ticks"][0] == "14 Oct 2024"
    assert attendance["ticks"][-1] == "18 Nov 2024"
    assert attendance["notes"] == ["partial", "partial"]
    hovered = _read(
        short_report,
        """() => [1, 5].map(n => {
            const chart = document.getElementById('chart-' + n);
            Plotly.Fx.hover(chart, [{curveNumber: 0, pointNumber: n === 1 ? 0 : 5}]);
            return chart.querySelector('.hovertext')?.textContent ?? '';
        })""",
    )
    assert "Partial month: 15 Oct 2024 to 31 Oct 2024 only" in hovered[0]
    assert "Partial week: 18 Nov 2024 to 20 Nov 2024 only" in hovered[1]


def test_no_axis_repeats_a_label(
    demo_report: tuple[Path, subprocess.CompletedProcess[str]], short_report: Path
) -> None:
    """Every x axis, and the y axis of every chart whose y is a value (not a category
    such as artist names, which may repeat), as drawn: no label twice. The demo report's
    artists axis read "0, 1, 1, 2, 2" (plotly's 0.5 step in a whole-number format)."""
    script = """() => [...document.querySelectorAll('.plotly-graph-div')].map(c => ({
        title: c.querySelector('.gtitle')?.textContent ?? '',
        x: [...c.querySelectorAll('.xtick text')].map(t => t.textContent),
        y: [...c.querySelectorAll('.ytick text')].map(t => t.textContent),
    }))"""
    categorical_y = {"Top artists by revenue", "Artists by nationality and gender"}
    for report in (demo_report[0], short_report):
        for chart in _read(report, script):
            values = [] if chart["title"] in categorical_y else chart["y"]
            assert len(chart["x"]) == len(set(chart["x"])), (report.name, chart)
            assert len(values) == len(set(values)), (report.name, chart)
