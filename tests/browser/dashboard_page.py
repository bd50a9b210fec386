"""The served dashboard as a person's browser shows it, and what it must show.

Used by the browser test (``test_dashboard_in_voila.py``) and the browser benchmark
(``benchmarks/browser_dashboard.py``), so "correct" means the same in both. Everything
is read through the dashboard's DOM contract, which today's ipywidgets dashboard and the
anywidget rewrite both keep:

- controls ``.gallery-start input[type=date]``, ``.gallery-end input[type=date]``,
  ``.gallery-mediums select[multiple]``, ``.gallery-status select``,
  ``.gallery-user select`` (and, new only, ``.gallery-currency select``);
- KPI tiles ``.gallery-kpi-value[data-kpi=<column>]``, text ``column.show(value)``;
- charts ``.gallery-dashboard .js-plotly-plot`` in the registry's order of chart panels
  (new only: inside ``.gallery-chart[data-panel=<name>]``), whose ``el.data`` is what
  plotly drew.

What the page must show for some filters comes from the service, never from the page:
``DashboardService(db).get_gallery_overview(filters)``, tiles as ``column.show(value)``
and traces as ``panels.draw(result).to_plotly_json()``. Traces are compared on x, y,
labels, values and parents; numbers within 1e-9 relative; dates as instants, whatever
text or binary form (plotly's ``{"dtype", "bdata"}``) either side uses.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import math
import re
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.engine import URL

from gallery_analytics import panels
from gallery_analytics.db.database import Database
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.results import GalleryOverviewDto
from gallery_analytics.panels import PANELS, Display
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService

T = TypeVar("T")

TRACE_FIELDS = ("x", "y", "labels", "values", "parents")
RELATIVE_TOLERANCE = 1e-9
CHART_PANELS = tuple(panel.name for panel in PANELS if panel.display is Display.CHART)
ALL_LABEL = "(all)"  # today's widget labels "all" so; the new one has value ""

# Voila's page template asks a CDN for Font Awesome; this machine has no internet.
OFFLINE_NOISE = "fontawesome"

READ_VIEW = """() => {
    const plain = v => {
        if (v === undefined || v === null) return null;
        if (ArrayBuffer.isView(v)) return Array.from(v);
        if (Array.isArray(v)) return v.map(e => ArrayBuffer.isView(e) ? Array.from(e) : e);
        if (typeof v === 'object' && 'bdata' in v)
            return {dtype: v.dtype, bdata: v.bdata, shape: v.shape ?? null};
        return v;
    };
    const root = document.querySelector('.gallery-dashboard');
    const plots = [...document.querySelectorAll('.gallery-dashboard .js-plotly-plot')];
    return {
        root: root !== null,
        charts: plots.map(p => ({
            panel: p.closest('.gallery-chart')?.dataset?.panel ?? null,
            drawn: p.querySelector('svg.main-svg') !== null,
            traces: (p.data || []).map(t => ({
                type: t.type ?? null, name: t.name ?? null,
                x: plain(t.x), y: plain(t.y), labels: plain(t.labels),
                values: plain(t.values), parents: plain(t.parents),
            })),
        })),
        kpis: [...document.querySelectorAll('.gallery-dashboard .gallery-kpi-value')]
            .map(e => [e.dataset.kpi ?? null, e.textContent.trim()]),
        status: document.querySelector('.gallery-status-line')?.innerText?.trim() ?? null,
        currency: document.querySelector('.gallery-currency select')?.value ?? null,
    };
}"""


# -- values in one comparable form ---------------------------------------------------------

_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_DTYPES = {
    "f8": "<f8", "f4": "<f4", "i1": "i1", "u1": "u1", "i2": "<i2", "u2": "<u2",
    "i4": "<i4", "u4": "<u4", "i8": "<i8", "u8": "<u8", "u1c": "u1",
}  # fmt: skip


def _instant(value: dt.datetime) -> dt.datetime:
    """Aware times as UTC, then naive: what plotly plots for either."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return _instant(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str) and _DATE.match(value):
        text = value.replace("Z", "+00:00")
        # Python reads at most microseconds: cut nanoseconds (numpy's text has them).
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        try:
            return _instant(dt.datetime.fromisoformat(text))
        except ValueError:
            return value
    return value


def values(value: Any) -> list[Any] | None:
    """A trace field (list, numpy array, plotly's base64 ``{"dtype", "bdata"}``, a
    browser's typed array) as a list of comparable scalars; None if absent."""
    if value is None:
        return None
    if isinstance(value, Mapping) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=_DTYPES[value["dtype"]])
        shape = value.get("shape")
        if shape:
            dims = [int(n) for n in str(shape).split(",")] if isinstance(shape, str) else shape
            array = array.reshape(dims)
        return [_scalar(item) for item in array.tolist()]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "M":
            return [_scalar(item) for item in value.astype("datetime64[us]").astype(object)]
        return [_scalar(item) for item in value.tolist()]
    if isinstance(value, list | tuple):
        return [_scalar(item) for item in value]
    return [_scalar(value)]


def _same(expected: Any, drawn: Any) -> bool:
    if isinstance(expected, float) and isinstance(drawn, float):
        return math.isclose(expected, drawn, rel_tol=RELATIVE_TOLERANCE, abs_tol=0.0) or (
            math.isnan(expected) and math.isnan(drawn)
        )
    return bool(expected == drawn)


# -- a view: what the page shows, or must show ----------------------------------------------


@dataclass(frozen=True)
class Chart:
    panel: str | None  # data-panel of the new widget; None where the page does not say
    drawn: bool
    traces: tuple[dict[str, list[Any] | None], ...]


@dataclass(frozen=True)
class View:
    """Charts in registry order, KPI tiles by column name, and the status line."""

    charts: tuple[Chart, ...]
    kpis: dict[str, str]
    status: str | None = None
    currency: str | None = None
    root: bool = True

    @classmethod
    def from_page(cls, raw: Mapping[str, Any]) -> View:
        charts = tuple(
            Chart(
                panel=chart["panel"],
                drawn=bool(chart["drawn"]),
                traces=tuple(
                    {name: values(trace.get(name)) for name in TRACE_FIELDS}
                    for trace in chart["traces"]
                ),
            )
            for chart in raw["charts"]
        )
        kpis: dict[str, str] = {}
        for key, text in raw["kpis"]:
            kpis[str(key)] = text
        return cls(
            charts=charts,
            kpis=kpis,
            status=raw.get("status"),
            currency=raw.get("currency"),
            root=bool(raw.get("root", True)),
        )


def expected_view(overview: GalleryOverviewDto) -> View:
    """What the dashboard must show for ``overview``: tiles as the key figures' columns
    show their value, charts as ``panels.draw`` draws each chart panel."""
    kpis: dict[str, str] = {}
    charts: list[Chart] = []
    for panel in PANELS:
        result = overview.panels.get(panel.name)
        if result is None:
            continue
        if panel.display is Display.TILES:
            row = result.rows[0] if result.ok and result.rows else {}
            for column in result.columns:
                key = column.name if column.name not in kpis else f"{panel.name}.{column.name}"
                kpis[key] = column.show(row.get(column.name)) if result.ok else "error"
        elif panel.display is Display.CHART:
            figure = panels.draw(result).to_plotly_json()
            traces = tuple(
                {name: values(trace.get(name)) for name in TRACE_FIELDS} for trace in figure["data"]
            )
            charts.append(Chart(panel=panel.name, drawn=True, traces=traces))
    return View(charts=tuple(charts), kpis=kpis)


def _preview(items: Sequence[Any] | None, around: int = 0, width: int = 4) -> str:
    if items is None:
        return "absent"
    start = max(0, around - 1)
    shown = ", ".join(repr(item) for item in items[start : start + width])
    more = " ..." if len(items) > start + width else ""
    return f"[{'... ' if start else ''}{shown}{more}] ({len(items)} values)"


def differences(expected: View, drawn: View) -> list[str]:
    """Every way ``drawn`` differs from ``expected``, one precise line each: which panel,
    which trace, which field, expected against drawn."""
    found: list[str] = []
    if not drawn.root:
        return ["no .gallery-dashboard on the page"]
    for key, text in expected.kpis.items():
        shown = drawn.kpis.get(key)
        if shown is None:
            found.append(f"KPI tile {key!r}: missing (tiles on the page: {sorted(drawn.kpis)})")
        elif shown.strip() != text.strip():
            found.append(f"KPI tile {key!r}: expected {text!r}, shows {shown!r}")
    if len(drawn.charts) != len(expected.charts):
        found.append(
            f"charts: expected {len(expected.charts)} ({', '.join(CHART_PANELS)}), "
            f"the page has {len(drawn.charts)}"
        )
    for position, (want, got) in enumerate(zip(expected.charts, drawn.charts, strict=False)):
        name = want.panel or f"chart {position + 1}"
        if got.panel is not None and got.panel != want.panel:
            found.append(f"chart {position + 1}: expected panel {want.panel!r}, is {got.panel!r}")
        if not got.drawn:
            found.append(f"{name}: not drawn (no svg.main-svg)")
        if len(got.traces) != len(want.traces):
            found.append(f"{name}: expected {len(want.traces)} trace(s), drew {len(got.traces)}")
        for index, (want_trace, got_trace) in enumerate(zip(want.traces, got.traces, strict=False)):
            for field_name in TRACE_FIELDS:
                wanted, shown = want_trace[field_name], got_trace[field_name]
                if wanted is None and shown is None:
                    continue
                where = f"{name} trace {index} {field_name}"
                if wanted is None or shown is None or len(wanted) != len(shown):
                    found.append(f"{where}: expected {_preview(wanted)}, drew {_preview(shown)}")
                    continue
                bad = [i for i, (a, b) in enumerate(zip(wanted, shown, strict=True))
                       if not _same(a, b)]  # fmt: skip
                if bad:
                    first = bad[0]
                    found.append(
                        f"{where}: {len(bad)} of {len(wanted)} differ, first at [{first}]: "
                        f"expected {wanted[first]!r}, drew {shown[first]!r}; expected "
                        f"{_preview(wanted, first)}, drew {_preview(shown, first)}"
                    )
    return found


# -- the oracle: the service's results, on an event loop of its own -------------------------


class ServiceOracle:
    """What the dashboard must show, from the service, for browser code that is not async
    (Playwright's sync API): the database is used from an event loop on its own thread."""

    def __init__(self, url: URL | str, *, read_url: URL | str | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._db = Database(url, read_url=read_url)
        self._cache: dict[str, View] = {}

    def _run(self, coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine(), self._loop).result(timeout=300)

    def view(self, filters: OverviewFilters | Mapping[str, Any]) -> View:
        """The view the dashboard must show for ``filters``."""
        checked = OverviewFilters.parse(filters)
        key = checked.model_dump_json()
        if key not in self._cache:
            overview = self._run(lambda: DashboardService(self._db).get_gallery_overview(checked))
            failed = [f"{p.name}: {p.error}" for p in overview.failed]
            assert not failed, f"the service itself failed for {checked}: {failed}"
            self._cache[key] = expected_view(overview)
        return self._cache[key]

    def mediums(self) -> list[str]:
        return self._run(lambda: DashboardService(self._db).list_mediums())

    def users(self) -> list[tuple[str, str]]:
        """(id, the label today's widget shows) of every user."""

        async def listed() -> list[tuple[str, str]]:
            users = await CatalogService(self._db).list_users()
            return [(u.id, f"{u.display_name} <{u.email}>") for u in users]

        return self._run(listed)

    def close(self) -> None:
        self._run(self._db.dispose)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ServiceOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the page ------------------------------------------------------------------------------


@dataclass
class Filters:
    """The filters set through the page, as the service takes them."""

    start: dt.date | None = None
    end: dt.date | None = None
    mediums: tuple[str, ...] = ()
    status: str | None = None
    user_id: str | None = None

    def as_service_filters(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "mediums": list(self.mediums),
            "status": self.status,
            "user_id": self.user_id,
        }

    def describe(self) -> str:
        parts = [f"{self.start} to {self.end}"]
        if self.mediums:
            parts.append(f"mediums {', '.join(self.mediums)}")
        if self.status:
            parts.append(f"status {self.status}")
        if self.user_id:
            parts.append(f"user {self.user_id}")
        return "; ".join(parts)


class DashboardTimeout(AssertionError):
    """The page did not show the expected view in time (message: the precise diff)."""


@dataclass
class DashboardPage:
    """A Playwright page on the served dashboard; records console errors, failed
    requests and page errors as they happen."""

    page: Any  # playwright.sync_api.Page (Playwright is a test dependency only)
    users: Mapping[str, str] = field(default_factory=dict)  # id -> today's label
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on(
            "console", lambda m: self.problems.append(m.text) if m.type == "error" else None
        )
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))

    def slow_down(self, rate: float) -> None:
        """Run the page's JavaScript ``rate`` times slower (Chromium's CPU throttling,
        as its developer tools emulate a slower device)."""
        session = self.page.context.new_cdp_session(self.page)
        session.send("Emulation.setCPUThrottlingRate", {"rate": rate})

    # -- reading --

    def read(self) -> View:
        return View.from_page(self.page.evaluate(READ_VIEW))

    def wait_for(self, expected: View, *, timeout: float, what: str) -> float:
        """Seconds until the page shows ``expected`` (polled); a ``DashboardTimeout``
        with every difference and the console errors if it does not within ``timeout``."""
        started = time.perf_counter()
        deadline = started + timeout
        while True:
            try:
                drawn = self.read()
            except Exception as error:  # the page is still loading: no DOM to read yet
                found = [f"could not read the page: {' '.join(str(error).split())[:300]}"]
            else:
                found = differences(expected, drawn)
                if not found:
                    return time.perf_counter() - started
            if time.perf_counter() > deadline:
                status = drawn.status if "drawn" in locals() else None
                raise DashboardTimeout(self.report(what, found, timeout, status))
            time.sleep(0.03)

    def report(self, what: str, found: Sequence[str], timeout: float, status: str | None) -> str:
        lines = [
            f"after {what}: the page did not show the service's results within {timeout:g} s",
            f"status line: {status!r}",
            *(f"  - {line}" for line in found[:40]),
        ]
        if len(found) > 40:
            lines.append(f"  ... and {len(found) - 40} more differences")
        lines.append(f"console errors and failed requests: {self.unexpected_problems()}")
        return "\n".join(lines)

    def unexpected_problems(self) -> list[str]:
        """Console errors, page errors and failed requests, but the offline Font Awesome
        requests (and the console's echo of each)."""
        offline = [p for p in self.problems if p.startswith("failed: ") and OFFLINE_NOISE in p]
        echoes = [
            p for p in self.problems if p == "Failed to load resource: net::ERR_NAME_NOT_RESOLVED"
        ][: len(offline)]
        return [p for p in self.problems if p not in offline and p not in echoes]

    # -- changing filters through the page --

    def _choose(self, selector: str, wanted: Sequence[tuple[str, str]]) -> None:
        """Select the options whose value is the first of each pair (the new widget) or,
        failing that, whose label is the second (today's widget labels its values)."""
        indexes = self.page.eval_on_selector(
            selector,
            """(s, wanted) => wanted.map(([value, label]) => {
                const options = [...s.options];
                let i = options.findIndex(o => o.value === value);
                // ipywidgets shows spaces in option labels as non-breaking ones
                const text = o => o.textContent.replace(/\u00a0/g, ' ').trim();
                if (i < 0) i = options.findIndex(o => text(o) === label);
                return i;
            })""",
            [list(pair) for pair in wanted],
        )
        missing = [pair for pair, index in zip(wanted, indexes, strict=True) if index < 0]
        assert not missing, f"{selector}: no option for {missing}"
        self.page.select_option(selector, index=indexes)

    def set_date(self, which: str, value: dt.date) -> None:
        self.page.fill(f".gallery-{which} input[type=date]", value.isoformat())

    def set_mediums(self, mediums: Sequence[str]) -> None:
        self._choose(".gallery-mediums select", [(m, m) for m in mediums])

    def set_status(self, status: str | None) -> None:
        label = status.replace("_", " ") if status else ALL_LABEL
        self._choose(".gallery-status select", [(status or "", label)])

    def set_user(self, user_id: str | None) -> None:
        label = self.users.get(user_id, "") if user_id else ALL_LABEL
        self._choose(".gallery-user select", [(user_id or "", label)])

    def apply(self, filters: Filters, change: Mapping[str, Any]) -> Filters:
        """Make ``change`` (start, end, mediums, status, user_id) through the page's
        controls; return the filters the page now describes."""
        for name, value in change.items():
            if name in ("start", "end"):
                self.set_date(name, value)
            elif name == "mediums":
                self.set_mediums(value)
            elif name == "status":
                self.set_status(value)
            elif name == "user_id":
                self.set_user(value)
            else:
                raise ValueError(f"unknown filter {name!r}")
        fields = {**filters.__dict__, **change}
        fields["mediums"] = tuple(fields["mediums"])
        return Filters(**fields)
