"""The interactive dashboard served by Voila, driven in headless Chromium.

Starts Voila on a free loopback port against the seeded test database, waits for the
charts, changes the status filter through the page and checks that the KPI tiles and
the charts change; screenshots before and after are saved in the test's directory.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gallery_analytics.db.database import Database
from gallery_analytics.notebooks import notebooks_dir
from tests.browser.test_report_in_chromium import ARGS, CHROMIUM

# Voila's page template asks a CDN for Font Awesome; this machine has no internet.
OFFLINE_NOISE = "fontawesome"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _voila(database_url: str, log: Path) -> Iterator[str]:
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    environment["GALLERY_DATABASE_URL"] = database_url
    with open(log, "w") as output:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "voila"),
                str(notebooks_dir() / "06-interactive-dashboard.ipynb"),
                f"--port={port}",
                "--no-browser",
                "--Voila.ip=127.0.0.1",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2):
                        break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() > deadline or server.poll() is not None:
                        pytest.fail(f"Voila did not start:\n{log.read_text()[-2000:]}")
                    time.sleep(0.3)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


KPIS = "es => es.map(e => e.textContent)"
FIRST_CHART_Y = "() => Array.from(document.querySelector('.js-plotly-plot').data[0].y)"
CHARTS_DRAWN = """() => {
    const charts = [...document.querySelectorAll('.gallery-dashboard .js-plotly-plot')];
    return charts.length === 6 && charts.every(c => c.querySelector('svg.main-svg'))
        && document.querySelectorAll('.gallery-kpi-value').length === 4;
}"""


def test_changing_a_filter_in_the_page_updates_the_charts(
    seeded_db: Database, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    url = seeded_db.url.render_as_string(hide_password=False)
    problems: list[str] = []
    with _voila(url, tmp_path / "voila.log") as app, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.goto(app, timeout=90_000)
            page.wait_for_function(CHARTS_DRAWN, timeout=90_000)
            kpis_before = page.eval_on_selector_all(".gallery-kpi-value", KPIS)
            revenue_before = page.evaluate(FIRST_CHART_Y)
            page.screenshot(path=str(tmp_path / "before.png"), full_page=True)

            page.select_option(".gallery-status select", "sold")
            page.wait_for_function(
                f"""() => {{
                    const now = [...document.querySelectorAll('.gallery-kpi-value')]
                        .map(e => e.textContent);
                    return JSON.stringify(now) !== {str(kpis_before).replace("'", '"')!r};
                }}""",
                timeout=30_000,
            )
            try:
                page.wait_for_function(
                    f"() => JSON.stringify(({FIRST_CHART_Y})()) !== "
                    f"JSON.stringify({revenue_before})",
                    timeout=60_000,
                )
            except Exception:
                page.screenshot(path=str(tmp_path / "stuck.png"), full_page=True)
                status = page.inner_text(".gallery-status-line")
                pytest.fail(
                    f"the chart did not change; status line: {status!r}; "
                    f"kpis {kpis_before} -> {page.eval_on_selector_all('.gallery-kpi-value', KPIS)}"
                    f"; screenshot {tmp_path / 'stuck.png'}; problems {problems}"
                )
            kpis_after = page.eval_on_selector_all(".gallery-kpi-value", KPIS)
            revenue_after = page.evaluate(FIRST_CHART_Y)
            page.screenshot(path=str(tmp_path / "after.png"), full_page=True)
        finally:
            browser.close()
    assert kpis_after != kpis_before
    assert revenue_after != revenue_before
    assert sum(revenue_after) < sum(revenue_before)  # sold works only: less revenue
    assert (tmp_path / "after.png").stat().st_size > 50_000
    offline = [p for p in problems if p.startswith("failed: ") and OFFLINE_NOISE in p]
    echoes = [p for p in problems if p == "Failed to load resource: net::ERR_NAME_NOT_RESOLVED"]
    assert len(echoes) <= len(offline)  # the console's echo of those same requests
    assert [p for p in problems if p not in offline and p not in echoes] == []
