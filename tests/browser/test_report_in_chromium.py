"""The exported report in a real headless Chromium: every chart drawn, no console errors.

Chromium is Debian's package (`make test` installs it when missing); Playwright drives it
through ``executable_path`` because no browser can be downloaded here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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
