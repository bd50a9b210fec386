"""An interactive gallery dashboard: ipywidgets filters, KPI tiles and plotly FigureWidgets.

Widget callbacks are synchronous and run on the kernel's event loop, so they never
block and never await: a filter change only *schedules* a refresh task on the running
loop. Refreshes are debounced (rapid changes collapse into one), a newer refresh
cancels the one in flight (its queries are cancelled on the server and its connections
returned), and a result is applied only if no newer refresh was asked for since, so a
stale result can never overwrite a newer one. Figures are FigureWidgets updated in
place: the widgets are created once and only their traces and layout change.

What is shown comes from the panel registry (:mod:`gallery_analytics.panels`), as each
panel's ``display`` says, in registry order: one figure per chart panel, drawn by
``panel.draw``; one tile per column of a tiles panel (the key figures); one table per
table panel (``panels.table``); headings and formats as declared there. The widget
knows no panel by name.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import html
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]

from gallery_analytics.extras import require_extra

with require_extra("notebook", needed_by=__name__):
    import anywidget  # noqa: F401  (plotly's FigureWidget is built on it)
    import ipywidgets as widgets  # type: ignore[import-untyped]
    from plotly.graph_objects import FigureWidget

from gallery_analytics import charts
from gallery_analytics import panels as registry
from gallery_analytics.concurrency import gather_all
from gallery_analytics.db.database import Database
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import OverviewFilters, default_period
from gallery_analytics.domain.results import GalleryOverviewDto, PanelResult
from gallery_analytics.errors import GalleryAnalyticsError
from gallery_analytics.panels import Display, Panel
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService

logger = logging.getLogger(__name__)

# plotly imports FigureWidget (and anywidget) lazily, and anywidget reads plotly's 4 MB
# JavaScript bundle from disk when the first FigureWidget is made. Do both now, at
# import time, rather than as blocking file reads inside the event loop.
for _bundle in (getattr(FigureWidget, "_esm", None), getattr(FigureWidget, "_css", None)):
    if _bundle is not None:
        str(_bundle)  # anywidget's FileContents caches the text after the first read

ALL = "(all)"
DEBOUNCE_SECONDS = 0.25
FIGURE_HEIGHT = 380


@dataclass
class RefreshStats:
    """Counters the tests and the status line read."""

    scheduled: int = 0
    completed: int = 0
    cancelled: int = 0  # refreshes whose queries were running when a newer one came
    last_seconds: float | None = None
    last_finished_at: dt.datetime | None = None
    durations: list[float] = field(default_factory=list)


class GalleryDashboard(widgets.VBox):  # type: ignore[misc]
    """The gallery overview as a live dashboard. Build it with ``await create(db)``."""

    def __init__(
        self,
        service: DashboardService,
        *,
        users: Sequence[tuple[str, str]],
        mediums: Sequence[str],
        filters: OverviewFilters,
        panels: Sequence[Panel],
        debounce_seconds: float,
        report_dir: Path,
    ) -> None:
        self.service = service
        self.panels = list(panels)
        self.debounce_seconds = debounce_seconds
        self.report_dir = report_dir
        self.stats = RefreshStats()
        self.current: GalleryOverviewDto | None = None
        self._currency = filters.currency
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self._export_task: asyncio.Task[Path | None] | None = None
        self._loop = asyncio.get_running_loop()

        layout = widgets.Layout(width="auto")
        self.start = widgets.DatePicker(description="From", value=filters.start, layout=layout)
        self.end = widgets.DatePicker(description="To", value=filters.end, layout=layout)
        self.mediums = widgets.SelectMultiple(
            description="Medium",
            options=list(mediums),
            value=tuple(filters.mediums),
            rows=4,
        )
        # "" stands for "all": ipywidgets treats a None value as "nothing selected".
        self.status = widgets.Dropdown(
            description="Status",
            options=[(ALL, ""), *[(s.value.replace("_", " "), s.value) for s in ArtworkStatus]],
            value=filters.status.value if filters.status else "",
        )
        self.user = widgets.Dropdown(
            description="User",
            options=[(ALL, ""), *[(label, uid) for uid, label in users]],
            value=filters.user_id or "",
        )
        self.export_button = widgets.Button(description="Export report", icon="file")
        for control, name in (
            (self.start, "start"),
            (self.end, "end"),
            (self.mediums, "mediums"),
            (self.status, "status"),
            (self.user, "user"),
            (self.export_button, "export"),
        ):
            control.add_class(f"gallery-{name}")  # stable hooks for browser tests
        for control in (self.start, self.end, self.mediums, self.status, self.user):
            control.observe(self._on_filter_change, names="value")
        self.export_button.on_click(self._on_export)

        # One tile per column of each tiles panel, keyed by column name (a name two tiles
        # panels share is keyed "panel.column" the second time).
        self._tiles: dict[str, tuple[Panel, str]] = {}
        for panel in self.panels:
            if panel.display is Display.TILES:
                for column in panel.columns:
                    key = (
                        column.name
                        if column.name not in self._tiles
                        else (f"{panel.name}.{column.name}")
                    )
                    self._tiles[key] = (panel, column.name)
        self.kpis = {
            key: widgets.HTML(layout=widgets.Layout(min_width="170px")).add_class("gallery-kpi")
            for key in self._tiles
        }
        self.tables: dict[str, widgets.HTML] = {
            panel.name: widgets.HTML(_table_html(panel.title, None)).add_class("gallery-table")
            for panel in self.panels
            if panel.display is Display.TABLE
        }
        self.status_line = widgets.HTML().add_class("gallery-status-line")
        self.messages = widgets.Output()
        # Themed once here; refreshes then build figures unthemed and update in place.
        self.figures: dict[str, FigureWidget] = {
            panel.name: _configured(
                charts.apply_theme(
                    FigureWidget(
                        layout={
                            "height": FIGURE_HEIGHT,
                            "title": {"text": charts.plain_text(panel.title)},
                        }
                    )
                )
            )
            for panel in self.panels
            if panel.display is Display.CHART
        }
        grid = widgets.GridBox(
            [widgets.Box([figure]) for figure in self.figures.values()],
            layout=widgets.Layout(grid_template_columns="repeat(2, minmax(0, 1fr))"),
        )
        super().__init__(
            [
                widgets.HTML("<h2 style='margin:0'>Gallery dashboard</h2>"),
                widgets.HBox([self.start, self.end, self.status, self.user]),
                widgets.HBox([self.mediums, self.export_button]),
                widgets.HBox(list(self.kpis.values())),
                self.status_line,
                grid,
                *self.tables.values(),
                self.messages,
            ]
        )
        self.add_class("gallery-dashboard")

    @classmethod
    async def create(
        cls,
        db: Database,
        *,
        filters: OverviewFilters | Mapping[str, Any] | None = None,
        panels: Sequence[Panel] | None = None,
        debounce_seconds: float = DEBOUNCE_SECONDS,
        report_dir: Path | str = Path("reports"),
    ) -> GalleryDashboard:
        """Fill the pickers from the database, then load the first view (awaited)."""
        service = DashboardService(db)
        if filters is None:  # the last full year before the workbench's today
            start, end = default_period(await db.today())
            filters = {"start": start, "end": end}
        checked = await service.check_filters(filters)
        users, mediums = await gather_all(CatalogService(db).list_users(), service.list_mediums())
        dashboard = cls(
            service,
            users=[(u.id, f"{u.display_name} <{u.email}>") for u in users],
            mediums=mediums,
            filters=checked,
            panels=panels or registry.PANELS,
            debounce_seconds=debounce_seconds,
            report_dir=Path(report_dir),
        )
        dashboard.stats.scheduled += 1
        await dashboard._refresh(dashboard._generation)
        return dashboard

    def __repr__(self) -> str:  # the default repr embeds every child's state
        return f"GalleryDashboard({len(self.panels)} panels)"

    # -- refreshing -----------------------------------------------------------------------

    def filters(self) -> OverviewFilters:
        """The filters the controls currently describe (ValidationError if inconsistent)."""
        return OverviewFilters.parse(
            {
                "start": self.start.value,
                "end": self.end.value,
                "mediums": list(self.mediums.value),
                "status": self.status.value or None,
                "user_id": self.user.value or None,
                "currency": self._currency,
            }
        )

    def schedule_refresh(self) -> None:
        """Ask for a refresh after the debounce delay; supersedes any pending or running one."""
        self._generation += 1
        self.stats.scheduled += 1
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = self._loop.create_task(self._debounced(self._generation))

    async def wait_idle(self) -> None:
        """Wait until no refresh is pending or running (for tests and scripts)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def _on_filter_change(self, change: Mapping[str, Any]) -> None:
        self.schedule_refresh()  # synchronous: schedules, never blocks or awaits

    async def _debounced(self, generation: int) -> None:
        await asyncio.sleep(self.debounce_seconds)
        await self._refresh(generation)

    async def _refresh(self, generation: int) -> None:
        try:
            filters = self.filters()
        except GalleryAnalyticsError as error:
            self.status_line.value = _status_html(f"Check the filters: {error}", "error")
            return
        self.status_line.value = _status_html("Loading…", "loading")
        started = time.perf_counter()
        try:
            overview = await self.service.get_gallery_overview(filters, panels=self.panels)
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        except GalleryAnalyticsError as error:
            self.status_line.value = _status_html(f"Could not refresh: {error}", "error")
            return
        try:
            # Building figures is CPU work (plotly validation): in a worker thread, so
            # the loop keeps serving other events; the widgets are updated back here.
            figures = await asyncio.to_thread(self._build_figures, overview)
            if generation != self._generation:
                return  # a newer refresh was asked for: never let this older result win
            self._apply(overview, figures)
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        except Exception as error:  # a task's exception would otherwise vanish unseen
            logger.exception("could not draw the dashboard")
            self.status_line.value = _status_html(f"Could not draw the charts: {error}", "error")
            return
        elapsed = time.perf_counter() - started
        self.current = overview
        self.stats.completed += 1
        self.stats.last_seconds = elapsed
        self.stats.durations.append(elapsed)
        self.stats.last_finished_at = dt.datetime.now()
        self.status_line.value = _status_html(_describe(overview, elapsed), "ok")

    def _build_figures(self, overview: GalleryOverviewDto) -> dict[str, go.Figure]:
        with charts.unthemed():  # the FigureWidgets were themed once, when made
            return {
                panel.name: panel.draw(overview.panels[panel.name])
                for panel in self.panels
                if panel.name in self.figures and panel.name in overview.panels
            }

    def _apply(self, overview: GalleryOverviewDto, figures: Mapping[str, go.Figure]) -> None:
        for key, (panel, column) in self._tiles.items():
            result = overview.panels.get(panel.name)
            if result is not None:
                self.kpis[key].value = _tile_html(key, result, column)
        for name, shown in self.tables.items():
            result = overview.panels.get(name)
            if result is not None:
                shown.value = _table_html(result.title, result)
        for name, fresh in figures.items():
            _replace_figure(self.figures[name], fresh)

    # -- export ---------------------------------------------------------------------------

    def _on_export(self, _: widgets.Button) -> None:
        if self._export_task is not None and not self._export_task.done():
            self.messages.append_stdout("An export is already running.\n")
            return
        self._export_task = self._loop.create_task(self.export_report())

    async def export_report(self) -> Path | None:
        """Write the HTML report for the current filters; its path, or None on failure."""
        # Imported here: papermill, nbconvert and the demo data are needed to export,
        # not to show the dashboard, and cost a second of import time.
        from gallery_analytics.reports import check_parameters, execute_report

        try:
            # No date chosen: the report's own default period (see ReportParameters).
            parameters = await check_parameters(self.service.db, self.filters())
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            target = self.report_dir / f"gallery-report-{stamp}.html"
            # Output widgets stop capturing after an await: append explicitly.
            self.messages.append_stdout(f"Exporting report to {target} …\n")
            report = await asyncio.to_thread(execute_report, parameters, target, progress=False)
        except GalleryAnalyticsError as error:
            self.messages.append_stdout(f"Export failed: {error}\n")
            return None
        except Exception as error:  # a task's exception would otherwise vanish unseen
            logger.exception("report export failed")
            self.messages.append_stdout(f"Export failed: {type(error).__name__}: {error}\n")
            return None
        self.messages.append_stdout(f"Report written: {report.html_path}\n")
        return report.html_path


def _tile_html(key: str, result: PanelResult, name: str) -> str:
    """One tile: the column's heading and its value in the first row, as declared."""
    row = result.rows[0] if result.ok and result.rows else {}
    column = next(column for column in result.columns if column.name == name)
    shown = column.show(row.get(name)) if result.ok else "error"
    return (  # every interpolated value escaped: tiles are raw HTML
        f"<div style='padding:6px 12px;border:1px solid #ddd;border-radius:6px'>"
        f"<div style='font-size:12px;color:#555'>{html.escape(column.heading())}</div>"
        f"<div class='gallery-kpi-value' data-kpi='{html.escape(key)}' "
        f"style='font-size:22px;font-weight:600'>{html.escape(shown)}</div></div>"
    )


def _table_html(title: str, result: PanelResult | None) -> str:
    """A table panel: its title, then its rows (``panels.table``), or why there are none.
    pandas escapes every cell; the title and an error are escaped here."""
    heading = f"<h4 style='margin:8px 0 4px'>{html.escape(title)}</h4>"
    if result is None:
        return heading + "<div class='gallery-table-body'>Loading…</div>"
    if not result.ok:
        return heading + (
            f"<div class='gallery-table-body'>{html.escape(f'Panel failed: {result.error}')}</div>"
        )
    body = registry.table(result).to_html(index=False, border=0, escape=True)
    return (
        f"{heading}<div class='gallery-table-body' data-panel='{html.escape(result.name)}'>"
        f"{body}</div>"
    )


def _configured(figure: FigureWidget) -> FigureWidget:
    """The gallery's plotly config (no cloud "Share chart" button) on a widget's views."""
    figure._config = {**(figure._config or {}), **charts.PLOTLY_CONFIG}
    return figure


def _replace_figure(target: FigureWidget, fresh: go.Figure) -> None:
    """Update a FigureWidget in place to show ``fresh`` (one message, no re-creation).

    Traces of the same kind are updated property by property; the layout is replaced
    key by key (keys the new figure lacks are reset) while the widget keeps its theme.
    """
    layout = fresh.layout.to_plotly_json()
    layout.pop("template", None)
    stale = set(target.layout.to_plotly_json()) - set(layout) - {"template"}
    layout.update(dict.fromkeys(stale))
    layout.setdefault("height", FIGURE_HEIGHT)
    with target.batch_update():
        same_shape = len(target.data) == len(fresh.data) and all(
            old.type == new.type for old, new in zip(target.data, fresh.data, strict=True)
        )
        if same_shape:
            for old, new in zip(target.data, fresh.data, strict=True):
                old.update(new.to_plotly_json(), overwrite=True)
        else:
            target.data = []
            target.add_traces(list(fresh.data))
        target.layout.update(layout, overwrite=True)
    # Views opened later (a page reload, Voila, a FigureWidget nested in a container)
    # start from this synced state, which plotly itself only refreshes when the figure
    # is displayed directly (see BaseFigureWidget._repr_mimebundle_).
    target._widget_layout = copy.deepcopy(target._layout_obj._props)
    target._widget_data = copy.deepcopy(target._data)


def _describe(overview: GalleryOverviewDto, elapsed: float) -> str:
    parts = ", ".join(
        f"{p.name.replace('_', ' ')} {p.wall_seconds * 1000:.0f} ms"
        for p in sorted(overview.panels.values(), key=lambda p: -p.wall_seconds)
    )
    failed = overview.failed
    problem = (
        f" · {len(failed)} panel(s) failed: {', '.join(p.name for p in failed)}" if failed else ""
    )
    now = dt.datetime.now().strftime("%H:%M:%S")
    return f"Updated {now} in {elapsed * 1000:.0f} ms{problem} · {parts}"


def _status_html(text: str, state: str) -> str:
    colour = {"ok": "#555", "loading": "#0072B2", "error": "#D55E00"}[state]
    return (
        f"<div class='gallery-status gallery-status-{state}' style='color:{colour};"
        f"font-size:12px'>{html.escape(text)}</div>"
    )
