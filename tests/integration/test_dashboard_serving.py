"""``gallery-analytics dashboard`` serves the dashboard and culls the kernels of pages
that are gone (short cull times passed as the command's option); its kernels get the
command's settings.

A plain GET of the page is a page view without a browser: Voila starts a kernel, runs
the notebook and returns the page, and no websocket ever connects, as when a browser
crashed or the network dropped before the page's ``beforeunload`` could ask for the
kernel's shutdown. Without culling that kernel would run until Voila stops.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from gallery_analytics.db.database import Database
from gallery_analytics.serving import PAGE_TITLE
from tests.browser.harness import serve_dashboard

CULL_AFTER_SECONDS = 3


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_the_dashboard_is_served_and_a_gone_pages_kernel_is_culled(
    seeded_db: Database, tmp_path: Path
) -> None:
    log = tmp_path / "voila.log"
    # No preheated kernel: it would serve the page and be replaced, and pooled kernels are
    # never culled; the page's own kernel is the one to watch here.
    options = ["--cull-after", str(CULL_AFTER_SECONDS), "--no-preheat"]
    with serve_dashboard(seeded_db.url, log, options=options) as served:
        with urllib.request.urlopen(served.url, timeout=180) as response:
            page = response.read().decode()
        assert re.search(rf"<title>\s*{PAGE_TITLE}\s*</title>", page), page[:500]
        assert "There was an error when executing cell" not in page, log.read_text()[-3000:]
        kernel_id = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', page)
        assert kernel_id is not None
        kernel_api = f"{served.url}api/kernels/{kernel_id.group(1)}"

        # Voila's JavaScript (most of a view's bytes) is gzipped for browsers that take it.
        script = urllib.request.Request(
            f"{served.url}voila/static/voila.js", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(script, timeout=30) as response:
            assert response.headers["Content-Encoding"] == "gzip"

        kernels = served.kernels()
        assert len(kernels) == 1
        environment = kernels[0].environ()  # the command's settings, no .env of its own
        assert environment["GALLERY_DATABASE_URL"] == seeded_db.url.render_as_string(
            hide_password=False
        )
        assert environment["GALLERY_ENV_FILE"] == os.devnull

        # Culled means both: the process gone and Voila's kernel list without it (the
        # process can end a moment before the manager forgets it, on a busy machine).
        deadline = time.monotonic() + CULL_AFTER_SECONDS + 60
        while (served.kernels() or _status(kernel_api) != 404) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert served.kernels() == [], f"kernel still running:\n{log.read_text()[-3000:]}"
        assert _status(kernel_api) == 404
        assert "Culling" in log.read_text()
        assert served.process.poll() is None  # Voila itself keeps serving
