"""The served dashboard in a real browser: first view, bytes, filter changes, memory.

Serves the medium demo data (5k artists, 100k artworks; seeded once into a scratch
database) with ``gallery-analytics dashboard`` on a free port and drives Debian's
Chromium through Playwright, once on a quiet machine and once with a busy-looping
process on every core, and prints the two side by side with the targets:

- first full view: navigation until every chart shows the service's values and every
  KPI tile is right (target <= 4 s);
- bytes received per view, from Chromium's DevTools protocol: HTTP bodies and headers
  as they crossed the wire (``Network.loadingFinished`` encodedDataLength) and websocket
  messages (``Network.webSocketFrameReceived``; these are the payloads after
  decompression), plus the bytes that crossed the TCP connection (a counting proxy in
  front of Voila: websocket compression shows there) (target <= 6 MB);
- filter change until every chart and tile is right, p50 and p95 over the changes,
  including the widget's 250 ms debounce (target p50 <= 600 ms);
- memory: the RSS of Voila's kernel processes after five views were opened and closed
  (closed without ``beforeunload``, as a crashed browser or a lost network leaves them),
  then again after the launcher's kernel culling (``--cull-after``) had its time.

"Right" is decided by the browser test's page object (tests/browser/dashboard_page.py):
the DOM against ``DashboardService(db).get_gallery_overview`` for the same filters.

    .venv/bin/python benchmarks/browser_dashboard.py [--size medium] [--changes 12]
        [--views 5] [--cull-after 20] [--no-preheat]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import scratch_database, server_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the browser test's page object and harness

from gallery_analytics.config import Settings  # noqa: E402
from tests.browser.dashboard_page import (  # noqa: E402
    DashboardPage,
    DashboardTimeout,
    Filters,
    ServiceOracle,
)
from tests.browser.harness import burn_cpus, free_port, serve_dashboard  # noqa: E402
from tests.browser.test_report_in_chromium import ARGS, CHROMIUM  # noqa: E402

TARGET_FIRST_VIEW_S = 4.0
TARGET_MB_PER_VIEW = 6.0
TARGET_CHANGE_P50_MS = 600.0
FIRST_VIEW_TIMEOUT_S = 180.0
CHANGE_TIMEOUT_S = 60.0
FIRST_FILTERS = Filters(start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31))  # notebook 06
MB = 1_000_000


# -- a TCP proxy that counts what Voila sends ---------------------------------------------


class CountingProxy:
    """Forwards 127.0.0.1:<port> to Voila and counts the bytes sent to the browser (what
    crossed the wire, compressed or not)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.downstream_bytes = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, counted: bool) -> None:
        try:
            while chunk := source.recv(1 << 16):
                if counted:
                    with self._lock:
                        self.downstream_bytes += len(chunk)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def take(self) -> int:
        with self._lock:
            taken, self.downstream_bytes = self.downstream_bytes, 0
        return taken

    def close(self) -> None:
        self._server.close()


# -- one view's bytes, from the DevTools protocol ---------------------------------------------


@dataclass
class Traffic:
    http_bytes: int = 0
    websocket_bytes: int = 0
    largest_frame: int = 0
    frames: int = 0

    def listen(self, session: Any) -> None:
        session.send("Network.enable")
        session.on("Network.loadingFinished", self._loaded)
        session.on("Network.webSocketFrameReceived", self._frame)

    def _loaded(self, event: dict[str, Any]) -> None:
        self.http_bytes += int(event.get("encodedDataLength", 0))

    def _frame(self, event: dict[str, Any]) -> None:
        response = event["response"]
        data = response.get("payloadData", "")
        # Text frames (opcode 1) as text; binary ones (2) base64-encoded.
        size = len(data.encode()) if response.get("opcode") == 1 else len(data) * 3 // 4
        self.websocket_bytes += size
        self.largest_frame = max(self.largest_frame, size)
        self.frames += 1


# -- measuring one condition -----------------------------------------------------------------


@dataclass
class Figures:
    label: str
    first_view_s: float | None = None
    first_view_problem: str = ""
    traffic: Traffic = field(default_factory=Traffic)
    wire_bytes: int = 0
    changes_ms: list[float] = field(default_factory=list)
    changes_failed: list[str] = field(default_factory=list)
    views_correct: int = 0
    views: int = 0
    kernels_before: int = 0
    rss_before: int = 0
    kernels_after: int = 0
    rss_after: int = 0
    cull_wait_s: float = 0.0
    console: list[str] = field(default_factory=list)


def _changes(oracle: ServiceOracle, count: int) -> list[dict[str, Any]]:
    mediums = oracle.mediums()
    users = [user_id for user_id, _ in oracle.users()[:3]]
    cycle: list[dict[str, Any]] = [
        {"status": "sold"},
        {"mediums": mediums[:2]},
        {"start": dt.date(2024, 4, 1)},
        {"status": "available"},
        {"mediums": [mediums[2]]},
        {"end": dt.date(2024, 9, 30)},
        {"user_id": users[0]},
        {"status": None},
        {"user_id": None},
        {"mediums": []},
        {"start": dt.date(2024, 1, 1)},
        {"end": dt.date(2024, 12, 31)},
    ]
    return [cycle[i % len(cycle)] for i in range(count)]


def _open_view(
    browser: Any, url: str, oracle: ServiceOracle, users: dict[str, str], figures: Figures
) -> tuple[DashboardPage, float | None, Traffic, str]:
    """A new page to its first full view: (page, seconds or None, traffic, problem)."""
    page = DashboardPage(browser.new_page(viewport={"width": 1400, "height": 1000}), users=users)
    traffic = Traffic()
    traffic.listen(page.page.context.new_cdp_session(page.page))
    expected = oracle.view(FIRST_FILTERS.as_service_filters())
    started = time.perf_counter()
    figures.views += 1
    try:
        page.page.goto(url, wait_until="commit", timeout=60_000)
        page.wait_for(expected, timeout=FIRST_VIEW_TIMEOUT_S, what="navigation")
    except DashboardTimeout as timeout:
        return page, None, traffic, str(timeout)
    figures.views_correct += 1
    return page, time.perf_counter() - started, traffic, ""


def measure(
    label: str,
    *,
    database: Any,
    oracle: ServiceOracle,
    changes: int,
    views: int,
    cull_after: int,
    preheat: bool,
    log: Path,
) -> Figures:
    from playwright.sync_api import sync_playwright

    figures = Figures(label)
    users = dict(oracle.users())
    options = ["--cull-after", str(cull_after), "--preheat" if preheat else "--no-preheat"]
    with serve_dashboard(database.url, log, options=options) as served:
        port = int(served.url.rsplit(":", 1)[1].strip("/"))
        proxy = CountingProxy(port)
        url = f"http://127.0.0.1:{proxy.port}/"
        if preheat:  # the pool's kernel runs the notebook before the first page is asked for
            time.sleep(30)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                proxy.take()
                page, seconds, traffic, problem = _open_view(browser, url, oracle, users, figures)
                figures.first_view_s, figures.first_view_problem = seconds, problem
                figures.traffic, figures.wire_bytes = traffic, proxy.take()
                filters = FIRST_FILTERS
                if seconds is not None:
                    for number, change in enumerate(_changes(oracle, changes), start=1):
                        filters = page.apply(filters, change)
                        expected = oracle.view(filters.as_service_filters())
                        started = time.perf_counter()
                        try:
                            page.wait_for(expected, timeout=CHANGE_TIMEOUT_S, what=str(change))
                        except DashboardTimeout as timeout:
                            first = str(timeout).splitlines()[2:3]
                            figures.changes_failed.append(f"change {number} {change}: {first}")
                            continue
                        figures.changes_ms.append((time.perf_counter() - started) * 1000)
                figures.console = page.unexpected_problems()
                page.page.close(run_before_unload=False)
                for _ in range(views - 1):
                    other, _, _, _ = _open_view(browser, url, oracle, users, figures)
                    other.page.close(run_before_unload=False)
            finally:
                browser.close()
        time.sleep(2)  # the websockets' closing reaches Voila
        figures.kernels_before = len(served.kernels())
        figures.rss_before = served.kernel_rss_bytes()
        started = time.perf_counter()
        deadline = started + cull_after + max(1, min(30, cull_after // 4)) * 2 + 15
        while time.perf_counter() < deadline and len(served.kernels()) > (1 if preheat else 0):
            time.sleep(1)
        figures.cull_wait_s = time.perf_counter() - started
        figures.kernels_after = len(served.kernels())
        figures.rss_after = served.kernel_rss_bytes()
        proxy.close()
    return figures


# -- printing ----------------------------------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f} s"


def report(results: list[Figures], *, size: str, cull_after: int, preheat: bool) -> str:
    rows: list[tuple[str, list[str], str]] = []

    def row(name: str, cells: list[str], target: str = "") -> None:
        rows.append((name, cells, target))

    row(
        "first full view",
        [_seconds(f.first_view_s) for f in results],
        f"<= {TARGET_FIRST_VIEW_S:g} s",
    )
    row(
        "bytes per view, wire (TCP)",
        [f"{f.wire_bytes / MB:.2f} MB" for f in results],
        f"<= {TARGET_MB_PER_VIEW:g} MB",
    )
    row("  http (encoded, CDP)", [f"{f.traffic.http_bytes / MB:.2f} MB" for f in results])
    row("  websocket payloads (CDP)", [f"{f.traffic.websocket_bytes / MB:.2f} MB" for f in results])
    row("  largest websocket frame", [f"{f.traffic.largest_frame / MB:.2f} MB" for f in results])
    row("  websocket frames", [str(f.traffic.frames) for f in results])
    row(
        "filter change p50",
        [f"{statistics.median(f.changes_ms):.0f} ms" if f.changes_ms else "-" for f in results],
        f"<= {TARGET_CHANGE_P50_MS:g} ms",
    )
    row(
        "filter change p95",
        [f"{_percentile(f.changes_ms, 0.95):.0f} ms" if f.changes_ms else "-" for f in results],
    )
    row(
        "changes correct in 60 s",
        [f"{len(f.changes_ms)} of {len(f.changes_ms) + len(f.changes_failed)}" for f in results],
    )
    row("views correct (first view)", [f"{f.views_correct} of {f.views}" for f in results])
    row(
        "kernels after views closed",
        [f"{f.kernels_before} ({f.rss_before / MB:.0f} MB RSS)" for f in results],
    )
    row(
        "  after culling",
        [
            f"{f.kernels_after} ({f.rss_after / MB:.0f} MB RSS, {f.cull_wait_s:.0f} s)"
            for f in results
        ],
        f"cull after {cull_after} s",
    )
    width = max(len(name) for name, _, _ in rows) + 2
    columns = [max(24, *(len(cells[i]) + 2 for _, cells, _ in rows)) for i in range(len(results))]
    made = len(results[0].changes_ms) + len(results[0].changes_failed)
    lines = [
        f"served dashboard in Chromium, {size} demo data, {made} "
        f"filter changes, {results[0].views} views; preheated kernel: {'yes' if preheat else 'no'}",
        "".ljust(width)
        + "".join(f.label.ljust(c) for f, c in zip(results, columns, strict=True))
        + "target",
    ]
    for name, cells, target in rows:
        lines.append(
            name.ljust(width)
            + "".join(cell.ljust(c) for cell, c in zip(cells, columns, strict=True))
            + target
        )
    for f in results:
        if f.first_view_problem:
            lines.append(f"\n[{f.label}] first view not right:\n{f.first_view_problem}")
        for failure in f.changes_failed:
            lines.append(f"[{f.label}] not right within 60 s: {failure}")
        if f.console:
            lines.append(f"[{f.label}] console errors: {f.console[:5]}")
    return "\n".join(lines)


@contextlib.contextmanager
def _condition(loaded: bool) -> Iterator[None]:
    if not loaded:
        yield
        return
    with burn_cpus():
        yield


def main(arguments: argparse.Namespace) -> None:
    settings = Settings.from_env()

    async def prepare() -> Any:
        db = await scratch_database(await server_url(settings), arguments.size, settings)
        await db.dispose()
        return db

    database = asyncio.run(prepare())
    results = []
    with ServiceOracle(database.url, read_url=database.read_url) as oracle:
        for label, loaded in (("quiet", False), ("CPU burner per core", True)):
            print(f"measuring: {label} ...", file=sys.stderr, flush=True)
            with _condition(loaded):
                results.append(
                    measure(
                        label,
                        database=database,
                        oracle=oracle,
                        changes=arguments.changes,
                        views=arguments.views,
                        cull_after=arguments.cull_after,
                        preheat=arguments.preheat,
                        log=Path(f"/tmp/browser-dashboard-{'loaded' if loaded else 'quiet'}.log"),
                    )
                )
    print(
        report(
            results, size=arguments.size, cull_after=arguments.cull_after, preheat=arguments.preheat
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--changes", type=int, default=12)
    parser.add_argument("--views", type=int, default=5)
    parser.add_argument(
        "--cull-after", type=int, default=20, help="seconds (the launcher's --cull-after)"
    )
    parser.add_argument(
        "--no-preheat", action="store_true", help="serve with --no-preheat (default: preheated)"
    )
    arguments = parser.parse_args()
    arguments.preheat = not arguments.no_preheat
    main(arguments)
