"""The interactive gallery dashboard: one anywidget that draws every panel.

Why one widget and not ipywidgets controls plus a plotly ``FigureWidget`` per chart:
each FigureWidget ships plotly.js (4.8 MB) in its own model, and anywidget gives a
model two seconds to load its module; on a busy machine some of the six never
initialised and their charts stayed frozen on old data while the tiles moved on. Here
the page receives plotly.js once (a 1.2 MB build holding only the trace types the
charts use, see ``frontend/plotly-bundle``), as a trait the small front-end module
evaluates lazily in ``render``, outside anywidget's initialisation deadline; every
chart, tile and table is then drawn from one ``view`` message, so what the page shows
is always one consistent answer to one set of filters.

The kernel side keeps the rules that make refreshes safe: a filter change only
*schedules* a refresh (callbacks never block or await); refreshes are debounced; a
newer refresh cancels the one in flight (its queries are cancelled on the server and
its connections returned); a result is applied only if no newer refresh was asked for.

What is shown comes from the panel registry (:mod:`gallery_analytics.panels`), in
registry order, as each panel's ``display`` says: a chart (``panel.draw``), tiles (one
per column of a tiles panel) or a table. Every chart also carries its table (the
accessible text behind it) and a CSV of exactly what it shows.

Filters come from the page, so they are hostile input: the controls are parsed by
:class:`OverviewFilters` (a bad value is a sentence in the status line, never a query),
and a click on a chart (a cross-filter) is checked against the panel's declared
selection before it narrows anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gallery_analytics.extras import require_extra

with require_extra("notebook", needed_by=__name__):
    import anywidget
    import traitlets

from gallery_analytics import charts
from gallery_analytics import panels as registry
from gallery_analytics.concurrency import gather_all
from gallery_analytics.db.database import Database
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import OverviewFilters, default_period
from gallery_analytics.domain.results import GalleryOverviewDto, PanelResult
from gallery_analytics.errors import GalleryAnalyticsError, ValidationError
from gallery_analytics.panels import Display, Panel
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.widgets.crossfilter import Selection, apply_selections, parse_selection

logger = logging.getLogger(__name__)

STATIC: Final = Path(__file__).with_name("static")
PLOTLY_BUNDLE: Final = STATIC / "plotly-gallery.min.js"
DEBOUNCE_SECONDS: Final = 0.25
# A page opened on a view older than this gets a fresh one (Voila's preheated kernels
# run the notebook before anyone asks; a notebook may be reopened hours later).
STALE_AFTER_SECONDS: Final = 30.0
CONTROL_KEYS: Final = ("start", "end", "mediums", "status", "user_id", "currency")
# More cross-filters than this from the page are refused unread (a click makes one per
# chart; a crafted link could send thousands).
MAX_SELECTIONS_CHECKED: Final = 10_000
# The status line shows at most this much of a message (it may quote page input).
MAX_STATUS_CHARS: Final = 300


def _read_plotly_bundle() -> str:
    """The dashboard's plotly.js, read once per process (by the first ``create``, in a
    worker thread: a 1.2 MB read is not for the event loop)."""
    global _PLOTLY_SOURCE
    if _PLOTLY_SOURCE is None:
        _PLOTLY_SOURCE = PLOTLY_BUNDLE.read_text(encoding="utf-8")
        # anywidget reads the module and style files when the first widget is made
        # (FileContents caches the text): read them here too, off the loop.
        for contents in (GalleryDashboard._esm, GalleryDashboard._css):
            str(contents)
    return _PLOTLY_SOURCE


_PLOTLY_SOURCE: str | None = None


@dataclass
class RefreshStats:
    """Counters the tests and benchmarks read."""

    scheduled: int = 0
    completed: int = 0
    cancelled: int = 0  # refreshes whose queries were running when a newer one came
    last_seconds: float | None = None
    last_finished_monotonic: float | None = None
    durations: list[float] = field(default_factory=list)


class GalleryDashboard(anywidget.AnyWidget):
    """The gallery overview as a live dashboard. Build it with ``await create(db)``.

    Drive it from Python as the page does: ``dashboard.set_filters(status="sold")``,
    then ``await dashboard.wait_idle()``; ``dashboard.current`` is the overview shown.
    """

    _esm = STATIC / "dashboard.js"
    _css = STATIC / "dashboard.css"

    # plotly.js, evaluated by the page once, lazily (see the module docstring).
    plotly_source = traitlets.Unicode("").tag(sync=True)
    # Options of the controls: mediums, statuses, users ([id, label]), currencies.
    choices = traitlets.Dict().tag(sync=True)
    # What the controls show (strings and lists of strings); set by the page or Python.
    controls = traitlets.Dict().tag(sync=True)
    # Active cross-filters (chips): [{"panel", "filter", "label"}]; set by page or Python.
    selections: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    # The applied view: one consistent answer to one set of controls and selections.
    view = traitlets.Dict().tag(sync=True)
    # {"state": "loading" | "ok" | "error", "text": "..."}: the aria-live status line.
    status = traitlets.Dict({"state": "loading", "text": "Loading…"}).tag(sync=True)
    # The same for downloads, on a line of their own: a report takes a while, and a
    # refresh meanwhile must not hide its progress (nor a download hide a refresh's).
    download_status = traitlets.Dict({"state": "ok", "text": ""}).tag(sync=True)
    # The gallery's plotly template, sent once: figures are built without it (validating
    # and copying it was 40% of building a view) and the page draws them with it.
    template = traitlets.Dict().tag(sync=True)
    # Mirror the filters in the page's URL (served as an app), restoring them on open.
    url_state = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        service: DashboardService,
        *,
        users: Sequence[tuple[str, str]],
        mediums: Sequence[str],
        currencies: Sequence[str],
        filters: OverviewFilters,
        panels: Sequence[Panel],
        debounce_seconds: float,
        url_state: bool,
    ) -> None:
        super().__init__(
            plotly_source=_read_plotly_bundle(),
            choices={
                "mediums": list(mediums),
                "statuses": [[s.value, s.value.replace("_", " ")] for s in ArtworkStatus],
                "users": [[uid, label] for uid, label in users],
                "currencies": list(currencies),
            },
            controls=_controls_of(filters),
            url_state=url_state,
            template=charts.GALLERY_TEMPLATE.to_plotly_json(),
        )
        self.service = service
        self.panels = list(panels)
        self.debounce_seconds = debounce_seconds
        self.stats = RefreshStats()
        self.current: GalleryOverviewDto | None = None
        self.shown_filters: OverviewFilters | None = None  # those of ``current``
        self._base = filters  # carries what the controls do not show (top_n, today)
        self._generation = 0
        # The page's Refresh button: the next refresh reads past the panel cache.
        self._bypass_cache = False
        self._task: asyncio.Task[None] | None = None
        self._download_task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self.observe(self._on_filter_change, names=["controls", "selections"])
        self.on_msg(self._on_message)

    @classmethod
    async def create(
        cls,
        db: Database,
        *,
        filters: OverviewFilters | Mapping[str, Any] | None = None,
        panels: Sequence[Panel] | None = None,
        debounce_seconds: float = DEBOUNCE_SECONDS,
        url_state: bool | None = None,
    ) -> GalleryDashboard:
        """Fill the controls from the database, then load the first view (awaited).

        ``url_state=True`` keeps the filters in the page's URL, so a link restores
        them; by default it is on when Voila serves the notebook as an app (Voila sets
        ``VOILA_PREHEAT`` in its kernels' environment), off in JupyterLab."""
        if url_state is None:
            url_state = "VOILA_PREHEAT" in os.environ
        service = DashboardService(db)
        if filters is None:  # the last full year before the workbench's today
            start, end = default_period(await db.today())
            filters = {"start": start, "end": end}
        checked = await service.check_filters(filters)
        await asyncio.to_thread(_read_plotly_bundle)
        users, mediums, currencies = await gather_all(
            CatalogService(db).list_users(), service.list_mediums(), service.list_currencies()
        )
        dashboard = cls(
            service,
            users=[(u.id, f"{u.display_name} <{u.email}>") for u in users],
            mediums=mediums,
            currencies=sorted({*currencies, checked.currency}),
            filters=checked,
            panels=panels or registry.PANELS,
            debounce_seconds=debounce_seconds,
            url_state=url_state,
        )
        dashboard.stats.scheduled += 1
        await dashboard._refresh(dashboard._generation)
        return dashboard

    def close(self) -> None:
        """Close the widget (a page closed, a cell re-run) and stop its work: a refresh
        or download in flight is cancelled, so its queries stop on the server and its
        connections are returned, and nothing is sent to the closed comm."""
        for task in (self._task, self._download_task):
            if task is not None and not task.done():
                task.cancel()
        super().close()

    def __repr__(self) -> str:  # the default repr embeds every trait, plotly.js included
        return f"GalleryDashboard({len(self.panels)} panels)"

    # -- filters --------------------------------------------------------------------------

    def filters(self) -> OverviewFilters:
        """The filters the controls describe, before cross-filters (ValidationError if
        they are inconsistent or malformed)."""
        controls = self.controls if isinstance(self.controls, Mapping) else {}
        unknown = sorted(set(controls) - set(CONTROL_KEYS))
        if unknown:
            raise ValidationError(unknown[0], "is not a filter of the dashboard")
        return OverviewFilters.parse(
            {
                **self._base.model_dump(include={"top_n", "today"}),
                **{key: _blank_is_none(value) for key, value in controls.items()},
            }
        )

    def active_selections(self) -> list[Selection]:
        """The cross-filters, each checked (ValidationError names a bad one); at most one
        per chart, as clicking makes them (a later one for the same chart replaces an
        earlier one, so a link cannot pile up thousands)."""
        if not isinstance(self.selections, list):
            raise ValidationError("selections", "expected a list of cross-filters")
        known = {panel.name: panel for panel in self.panels}
        clickable = sum(1 for panel in self.panels if panel.selects)
        if len(self.selections) > MAX_SELECTIONS_CHECKED:
            raise ValidationError(
                "selections", f"at most {clickable} cross-filters, one per clickable chart"
            )
        latest: dict[str, Selection] = {}
        for item in self.selections:
            selection = parse_selection(item, known)
            latest.pop(selection.panel, None)  # keeps click order: the latest comes last
            latest[selection.panel] = selection
        return list(latest.values())

    def filters_for(self, panel: Panel) -> OverviewFilters:
        """What ``panel`` shows: the controls narrowed by every cross-filter made on
        another panel (a panel is not narrowed by a click on itself)."""
        controls = self.filters()  # a bad control is named before a bad cross-filter
        return _narrowed_for(panel, controls, self.active_selections())

    def set_filters(self, **changes: Any) -> None:
        """Change controls as the page does (``status="sold"``, ``mediums=["Print"]``,
        ``start="2024-01-01"``); schedules a refresh."""
        unknown = sorted(set(changes) - set(CONTROL_KEYS))
        if unknown:
            raise ValidationError(unknown[0], f"expected one of {', '.join(CONTROL_KEYS)}")
        updated = dict(self.controls)
        for key, value in changes.items():
            updated[key] = _control_value(value)
        self.controls = updated

    def select(self, panel: str, selected: Any) -> None:
        """Cross-filter as a click on ``panel`` does (``select("monthly_revenue",
        {"month": "2024-03"})``): the other panels narrow to it; a chip shows it."""
        known = {p.name: p for p in self.panels}
        chosen = parse_selection({"panel": panel, "filter": selected}, known)
        others = [s for s in self.selections if isinstance(s, dict) and s.get("panel") != panel]
        self.selections = [*others, chosen.as_json(self._names())]

    def _names(self) -> dict[str, str]:
        """Artist names by id, from any panel on screen that lists artists (for chips)."""
        results = self.current.panels.values() if self.current else ()
        return {
            str(row["artist_id"]): str(row["artist"])
            for result in results
            if result.ok
            for row in result.rows
            if row.get("artist_id") and row.get("artist")
        }

    def clear_selections(self) -> None:
        """Remove every cross-filter ("clear all")."""
        self.selections = []

    # -- refreshing -----------------------------------------------------------------------

    def schedule_refresh(self) -> None:
        """Ask for a refresh after the debounce delay; supersedes any pending or running one."""
        self._generation += 1
        self.stats.scheduled += 1
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = self._loop.create_task(self._debounced(self._generation))

    def refresh(self) -> None:
        """Read every panel afresh from the database (the page's Refresh button): the
        next refresh bypasses the panel cache, and stores what it read."""
        self._bypass_cache = True
        self.schedule_refresh()

    async def wait_idle(self) -> None:
        """Wait until no refresh is pending or running (for tests and scripts)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def _on_filter_change(self, change: Mapping[str, Any]) -> None:
        self._on_loop(lambda: self._filters_changed(str(change["name"])))

    def _filters_changed(self, name: str) -> None:
        if name == "selections" and self._relabelled():
            return  # relabelling changed the trait again, which schedules the refresh
        self.schedule_refresh()  # synchronous: schedules, never blocks or awaits

    def _on_loop(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the dashboard's event loop, now if this is it.

        Messages from the page may arrive on another thread: JupyterLab sends widget
        messages through a kernel subshell, which ipykernel 7 runs on a thread and event
        loop of its own. A task created on this loop from there is never woken up (the
        second filter change in JupyterLab did nothing), so it is handed over with
        ``call_soon_threadsafe``."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            action()
        else:
            self._loop.call_soon_threadsafe(action)

    def _relabelled(self) -> bool:
        """Give cross-filters set by the page (a shared link) their chips' labels, made
        here from what they select, never from the page's text."""
        try:
            labelled = [s.as_json(self._names()) for s in self.active_selections()]
        except GalleryAnalyticsError:
            return False  # the refresh reports it
        if labelled == self.selections:
            return False
        self.selections = labelled
        return True

    async def _debounced(self, generation: int) -> None:
        await asyncio.sleep(self.debounce_seconds)
        await self._refresh(generation)

    async def _refresh(self, generation: int) -> None:
        asked = {"controls": dict(self.controls), "selections": list(self.selections)}
        try:  # controls and cross-filters parsed once per refresh, not once per panel
            controls = self.filters()  # a bad control is named before a bad cross-filter
            selections = self.active_selections()
            groups = self._panels_by_filters(controls, selections)
            shown = apply_selections(controls, selections)
        except GalleryAnalyticsError as error:
            # ``asked``: the page stops showing "Updating…" for filters that were refused.
            self._set_status("error", f"Check the filters: {error}", asked=asked)
            return
        self._set_status("loading", "Loading…")
        started = time.perf_counter()
        bypass, self._bypass_cache = self._bypass_cache, False
        try:
            loads = await gather_all(
                *(
                    self.service.get_gallery_overview(filters, panels=members, refresh=bypass)
                    for filters, members in groups
                )
            )
            overview = _merged(loads, started)
            # Building figures is CPU work (plotly validation): in a worker thread, so
            # the loop keeps serving other events; the widget is updated back here.
            view = await asyncio.to_thread(self._build_view, overview, groups, generation, asked)
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            self._bypass_cache |= bypass  # the newer refresh reads afresh instead
            raise
        except _Superseded:
            return
        except GalleryAnalyticsError as error:
            self._set_status("error", f"Could not refresh: {error}", asked=asked)
            return
        except Exception:  # a task's exception would otherwise vanish unseen
            logger.exception("could not draw the dashboard")  # details in the log only
            self._set_status("error", "Could not draw the charts (see the log).", asked=asked)
            return
        if generation != self._generation:
            return  # a newer refresh was asked for: never let this older result win
        elapsed = time.perf_counter() - started
        self.view = view
        self.current = overview
        self.shown_filters = shown
        self.stats.completed += 1
        self.stats.last_seconds = elapsed
        self.stats.durations.append(elapsed)
        self.stats.last_finished_monotonic = time.monotonic()
        self._set_status("ok", _describe(overview), at=dt.datetime.now(dt.UTC))

    def _set_status(
        self,
        state: str,
        text: str,
        *,
        asked: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        """The status line: ``asked`` says which filters an error answers (so the page
        stops waiting for them); ``at`` is shown in the viewer's own time zone."""
        if len(text) > MAX_STATUS_CHARS:
            text = text[: MAX_STATUS_CHARS - 1] + "…"
        status: dict[str, Any] = {"state": state, "text": text}
        if asked is not None:
            status["asked"] = dict(asked)
        if at is not None:
            status["at"] = at.isoformat()
        self.status = status

    def _panels_by_filters(
        self, controls: OverviewFilters, selections: Sequence[Selection]
    ) -> list[tuple[OverviewFilters, list[Panel]]]:
        """The panels grouped by the filters they are loaded with (one group unless a
        cross-filter exempts its own panel)."""
        groups: dict[OverviewFilters, list[Panel]] = {}
        for panel in self.panels:
            groups.setdefault(_narrowed_for(panel, controls, selections), []).append(panel)
        return list(groups.items())

    def _build_view(
        self,
        overview: GalleryOverviewDto,
        groups: Sequence[tuple[OverviewFilters, Sequence[Panel]]],
        generation: int,
        asked: Mapping[str, Any],
    ) -> dict[str, Any]:
        loaded_with = {panel.name: filters for filters, members in groups for panel in members}
        with charts.unthemed():  # the page applies the template it was sent once
            return self._view_of(overview, loaded_with, generation, asked)

    def _view_of(
        self,
        overview: GalleryOverviewDto,
        loaded_with: Mapping[str, OverviewFilters],
        generation: int,
        asked: Mapping[str, Any],
    ) -> dict[str, Any]:
        shown: list[dict[str, Any]] = []
        tiles: list[dict[str, Any]] = []
        tile_notes: list[str] = []
        for panel in self.panels:
            if generation != self._generation:
                raise _Superseded  # a newer refresh was asked for: stop building this one
            result = overview.panels.get(panel.name)
            if result is None:
                continue
            if panel.display is Display.TILES:
                tiles.extend(_tiles(panel, result, taken={t["key"] for t in tiles}))
                tile_notes.extend(result.notes)
                continue
            shown.append(_panel_view(panel, result, loaded_with[panel.name], self._base.today))
        return {
            "generation": generation,
            "asked": dict(asked),
            "tiles": tiles,
            "tile_notes": tile_notes,  # shown once, under the tiles
            "panels": shown,
            "config": dict(charts.PLOTLY_CONFIG),
        }

    # -- messages from the page -----------------------------------------------------------

    def _on_message(self, _: Any, content: Any, buffers: Sequence[bytes]) -> None:
        """Custom messages from the page: a chart click, or a download request (handled
        on the dashboard's loop, whatever thread delivered them)."""
        self._on_loop(lambda: self._handle_message(content))

    def _handle_message(self, content: Any) -> None:
        if not isinstance(content, Mapping):
            return
        kind = content.get("type")
        if kind == "refresh":
            self.refresh()
        elif kind == "opened":
            finished = self.stats.last_finished_monotonic
            if finished is None or time.monotonic() - finished > STALE_AFTER_SECONDS:
                self.schedule_refresh()
        elif kind == "select":
            try:
                self.select(str(content.get("panel")), content.get("filter"))
            except GalleryAnalyticsError as error:
                self._set_status("error", f"Cannot filter by that: {error}")
        elif kind == "download" and content.get("what") in ("report", "rows"):
            if self._download_task is not None and not self._download_task.done():
                self.download_status = {
                    "state": "ok",
                    "text": "A download is already being prepared.",
                }
                return
            what = str(content["what"])
            self._download_task = self._loop.create_task(self._send_download(what))

    async def _send_download(self, what: str) -> None:
        self.download_status = {"state": "loading", "text": f"Preparing the {_DOWNLOADS[what]}…"}
        try:
            name, mime, payload = await (
                self.report_html() if what == "report" else self.rows_parquet()
            )
        except GalleryAnalyticsError as error:
            self.download_status = {"state": "error", "text": f"Download failed: {error}"}
            return
        except Exception:  # a task's exception would otherwise vanish unseen
            logger.exception("download failed")
            self.download_status = {"state": "error", "text": "Download failed (see the log)."}
            return
        self.send({"type": "download", "filename": name, "mime": mime}, buffers=[payload])
        self.download_status = {"state": "ok", "text": f"Downloaded {name}."}

    async def report_html(self) -> tuple[str, str, bytes]:
        """The HTML report for the current filters: (file name, MIME type, bytes)."""
        # Imported here: papermill, nbconvert and the demo data are needed to export,
        # not to show the dashboard, and cost a second of import time.
        from gallery_analytics.reports import check_parameters, execute_report

        # The filters of the view on screen, cross-filters included; no date chosen: the
        # report's own default period (see ReportParameters).
        filters = self._on_screen()
        parameters = await check_parameters(self.service.db, filters)

        def run() -> bytes:  # the scratch directory's whole life off the event loop
            with tempfile.TemporaryDirectory(prefix="gallery-report-") as scratch:
                report = execute_report(parameters, Path(scratch) / "report.html", progress=False)
                return report.html_path.read_bytes()

        payload = await asyncio.to_thread(run)
        return f"{_file_stem('gallery-report', filters)}.html", "text/html", payload

    def _on_screen(self) -> OverviewFilters:
        """The filters of the view on screen (controls and every cross-filter): what a
        download holds, even if the controls changed since and no view answered yet."""
        if self.shown_filters is None:
            raise ValidationError("filters", "nothing is shown yet: wait for the first view")
        return self.shown_filters

    async def rows_parquet(self) -> tuple[str, str, bytes]:
        """The sales behind the view (controls and cross-filters) as Parquet."""
        from gallery_analytics.widgets.downloads import sales_parquet

        filters = self._on_screen()
        payload = await sales_parquet(self.service.db, filters)
        return f"{_file_stem('gallery-sales', filters)}.parquet", _PARQUET, payload


_PARQUET: Final = "application/vnd.apache.parquet"
_DOWNLOADS: Final = {"report": "report", "rows": "sales rows"}


def _merged(loads: Sequence[GalleryOverviewDto], started: float) -> GalleryOverviewDto:
    panels: dict[str, PanelResult] = {}
    for load in loads:
        panels.update(load.panels)
    return GalleryOverviewDto(
        panels=panels, wall_seconds=time.perf_counter() - started, parallel=True
    )


def _controls_of(filters: OverviewFilters) -> dict[str, Any]:
    """The controls' values for ``filters`` (strings, "" for "all")."""
    return {
        "start": filters.start.isoformat() if filters.start else "",
        "end": filters.end.isoformat() if filters.end else "",
        "mediums": list(filters.mediums),
        "status": filters.status.value if filters.status else "",
        "user_id": filters.user_id or "",
        "currency": filters.currency,
    }


def _control_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, ArtworkStatus):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


def _tiles(panel: Panel, result: PanelResult, *, taken: set[str]) -> list[dict[str, Any]]:
    """One tile per column of a tiles panel, text as declared ("-" for a null)."""
    row = result.rows[0] if result.ok and result.rows else {}
    tiles = []
    for column in result.columns:
        key = column.name if column.name not in taken else f"{panel.name}.{column.name}"
        tiles.append(
            {
                "key": key,
                "heading": column.heading(),
                "value": column.show(row.get(column.name)) if result.ok else "error",
                "error": None if result.ok else (result.error or result.status),
            }
        )
    return tiles


def _narrowed_for(
    panel: Panel, controls: OverviewFilters, selections: Sequence[Selection]
) -> OverviewFilters:
    """``controls`` narrowed by the cross-filters made on panels other than ``panel``."""
    return apply_selections(controls, [s for s in selections if s.panel != panel.name])


class _Superseded(Exception):
    """A view being built is no longer wanted (a newer refresh was asked for)."""


def _panel_view(
    panel: Panel, result: PanelResult, filters: OverviewFilters, today: dt.date | None
) -> dict[str, Any]:
    """What the page needs to show one chart or table panel, all text escaped or JSON."""
    view: dict[str, Any] = {
        "name": panel.name,
        "title": result.title,
        "display": panel.display.value,
        "state": result.status,
        "error": None if result.ok else _error_text(result),
        "notes": list(result.notes),
        # "cached 40 s ago" for a panel the cache answered (None: read for this view).
        "age": result.age_text(),
        "table": registry.table_html(result),
        "csv": registry.table_csv(result) if result.ok else "",
        "filename": f"{_file_stem(panel.name, filters)}.csv",
        "figure": None,
    }
    if panel.display is Display.CHART:
        # With both dates, a partial first or last month or week is marked as such; so
        # is the current one when the period runs past today.
        end = min(filters.end, today) if filters.end and today else filters.end
        period = (filters.start, end) if filters.start and end else None
        figure = json.loads(panel.draw(result, period=period).to_json())
        # Built unthemed, a figure still carries plotly's default template: the page
        # applies the gallery's, sent once.
        figure.get("layout", {}).pop("template", None)
        view["figure"] = figure
    return view


def _error_text(result: PanelResult) -> str:
    if result.status == "timeout":
        return "This chart took too long to load. Narrow the filters or try again."
    return f"This chart could not be loaded: {result.error or 'unknown error'}"


def _file_stem(prefix: str, filters: OverviewFilters) -> str:
    start = filters.start.isoformat() if filters.start else "all"
    end = filters.end.isoformat() if filters.end else "all"
    return f"{prefix}-{start}-to-{end}"


def _describe(overview: GalleryOverviewDto) -> str:
    """The status line after a refresh: which panels failed (no timings: those are for
    developers, in ``stats`` and the benchmarks); the page adds when, in its own zone."""
    failed = overview.failed
    problem = (
        f" · {len(failed)} panel(s) failed: {', '.join(p.title for p in failed)}" if failed else ""
    )
    return f"Updated{problem}"
