"""Fixtures of the browser tests: a loaded machine, and the served dashboard."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery_analytics.db.database import Database
from tests.browser.dashboard_page import ServiceOracle
from tests.browser.harness import ServedDashboard, burn_cpus, serve_dashboard
from tests.browser.test_report_in_chromium import ARGS, CHROMIUM


@pytest.fixture
def cpu_burners() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A busy-looping process per core, for as long as the test runs (killed at teardown):
    the dashboard must be right on a busy machine, not only on a quiet one."""
    with burn_cpus() as burners:
        yield burners


@pytest.fixture
def served_dashboard(seeded_db: Database, tmp_path: Path) -> Iterator[ServedDashboard]:
    """``gallery-analytics dashboard`` on a free port, serving the seeded test database."""
    with serve_dashboard(seeded_db.url, tmp_path / "voila.log") as served:
        yield served


@pytest.fixture
def oracle(seeded_db: Database) -> Iterator[ServiceOracle]:
    """The service's results for the seeded test database, for sync browser code."""
    with ServiceOracle(seeded_db.url) as service:
        yield service


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, closed at teardown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()
