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
