"""The dashboard in JupyterLab, in headless Chromium with every core busy: notebook 06 run
in a real JupyterLab, filters changed through the widget, and every chart and tile
compared with the service's results (as the Voila test does for the served app).

JupyterLab loads the widget through anywidget's lab extension, a different path from
Voila's page; the charts must be right there too, in the notebook's narrower column.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery_analytics.db.database import Database
from gallery_analytics.notebooks import notebooks_dir
from tests.browser.dashboard_page import DashboardPage, ServiceOracle
from tests.browser.harness import _environment, free_port
from tests.browser.test_report_in_chromium import ARGS, CHROMIUM

NOTEBOOK = "06-interactive-dashboard.ipynb"
YEAR_2024 = {"start": "2024-01-01", "end": "2024-12-31"}  # what notebook 06 opens with
TOKEN = "gallery-test-token"
TIMEOUT = 120.0


@contextlib.contextmanager
def _jupyterlab(seeded_db: Database, workdir: Path) -> Iterator[str]:
    shutil.copy(notebooks_dir() / NOTEBOOK, workdir / NOTEBOOK)
    port = free_port()
    with open(workdir / "jupyterlab.log", "wb") as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "jupyter-lab"),
                "--no-browser",
                f"--port={port}",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={workdir}",
                "--ServerApp.port_retries=0",
                "--allow-root",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_environment(seeded_db.url),
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    log_text = (workdir / "jupyterlab.log").read_text()[-3000:]
                    pytest.fail(f"JupyterLab did not start:\n{log_text}")
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()  # JupyterLab shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_dashboard_in_jupyterlab_shows_the_service_results(
    seeded_db: Database,
    tmp_path: Path,
    cpu_burners: list[subprocess.Popen[bytes]],
) -> None:
    from playwright.sync_api import sync_playwright

    with (
        _jupyterlab(seeded_db, tmp_path) as base,
        ServiceOracle(seeded_db.url) as oracle,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page: Any = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT * 1000)
            dashboard = DashboardPage(page)
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={TOKEN}", timeout=TIMEOUT * 1000)
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            # Once the kernel is up (the status bar says Idle), Run > Run All Cells.
            page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')")
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            dashboard.wait_for(oracle.view(YEAR_2024), timeout=TIMEOUT, what="running notebook 06")
            for change, filters in (
                ({"status": "sold"}, {**YEAR_2024, "status": "sold"}),
                ({"start": "2024-05-01"}, {**YEAR_2024, "start": "2024-05-01", "status": "sold"}),
            ):
                for name, value in change.items():
                    if name == "status":
                        dashboard.set_status(value)
                    else:
                        page.fill(f".gallery-{name} input[type=date]", value)
                dashboard.wait_for(oracle.view(filters), timeout=TIMEOUT, what=f"setting {change}")
            widths = page.evaluate(
                """() => [...document.querySelectorAll('.gallery-chart')].map(card => [
                    card.getBoundingClientRect().width,
                    card.querySelector('svg.main-svg').getBoundingClientRect().width])"""
            )
            assert widths
            assert all(0 < svg <= card + 1 for card, svg in widths), widths  # not clipped
            unexpected = [
                p for p in dashboard.unexpected_problems() if "anywidget" in p or "[gallery]" in p
            ]
            assert unexpected == []
        finally:
            browser.close()
