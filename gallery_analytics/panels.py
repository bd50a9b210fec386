"""The dashboard panels, each declared once: name, title, typed columns, query, and how
it is shown (a chart, tiles or a table).

A panel's query (:mod:`gallery_analytics.queries.overview`) and chart
(:mod:`gallery_analytics.charts`) are functions with the panel's own name, so
``monthly_revenue`` is queried by ``queries.overview.monthly_revenue`` and drawn by
``charts.monthly_revenue``; the chart is given the panel's title and column specs, so
axis titles, units and number formats come from here. The dashboard service, the widget
and the report notebook iterate over :data:`PANELS` (a new panel appears in all three);
the CLI summary reuses the ``top_artists`` query by name; an HTTP API is to read the
registry too. Adding a panel is one entry here (plus its SQL, and its chart if it has one).

Columns carry their kind (the frame's dtypes), their categories (declared per column),
their unit and their display format; money columns use the :data:`CURRENCY` placeholder,
which the service fills in with the currency a load was run for.

Charts and frames are imported when a panel is drawn, not when this module is: plotly's
theme and pandas cost over a second at import, and the CLI and services need neither.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from gallery_analytics.domain.columns import CURRENCY, ColumnSpec, Kind, in_currency
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import ValidationError
from gallery_analytics.queries import overview as sql
from gallery_analytics.queries.overview import Exclusion, PanelQuery

if TYPE_CHECKING:
    import datetime as dt

    import pandas as pd
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    from gallery_analytics.domain.results import PanelResult

__all__ = [
    "PANELS",
    "STATUSES",
    "Display",
    "Panel",
    "draw",
    "notes_html",
    "panel",
    "show",
    "table",
    "table_csv",
    "table_html",
]

STATUSES: Final = tuple(status.value for status in ArtworkStatus)
COUNT: Final = ",d"  # display formats (Python format specs; d3 reads them the same)
MONEY: Final = ",.2f"
ROUNDED_MONEY: Final = ",.0f"
NO_CHART: Final = "No chart for this panel"


class Display(StrEnum):
    """How a panel is shown; every view follows it (widget, report, ``show``)."""

    CHART = "chart"  # drawn by the chart function of the panel's name
    TILES = "tiles"  # one tile per column of its single row (a static report: a table)
    TABLE = "table"  # its rows as a table, headed and formatted as its columns declare


@dataclass(frozen=True, slots=True)
class Panel:
    """One dashboard panel: what it is called, what it returns, how it is queried and shown.

    ``display``: :attr:`Display.CHART` panels are drawn by the function of the same name
    in :mod:`gallery_analytics.charts`; the others are shown as tiles or as a table.
    """

    name: str
    title: str
    columns: tuple[ColumnSpec, ...]
    query: Callable[[OverviewFilters], PanelQuery]
    display: Display = Display.TABLE
    # Whether the query reads filters.today (what "open now" means when no dates are
    # given); the service reads Database.today() only for such panels.
    needs_today: bool = False
    # For panels that sum money in the load's currency: what they may leave out for want
    # of an exchange rate (its query and name), which the service states in the notes.
    excluded: Exclusion | None = None
    # What a click on the panel's chart selects to cross-filter the other panels (keys
    # of gallery_analytics.widgets.crossfilter.DIMENSIONS); the chart puts each point's
    # selection, as JSON, in its ``ids``.
    selects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:  # "chart" is accepted for Display.CHART, a typo is not
            object.__setattr__(self, "display", Display(self.display))
        except ValueError:
            raise ValidationError(
                "display",
                f"panel {self.name!r}: expected one of {', '.join(Display)}, got {self.display!r}",
                value=self.display,
            ) from None

    @property
    def charted(self) -> bool:
        """Whether the panel is shown as a chart."""
        return self.display is Display.CHART

    @property
    def takes_currency(self) -> bool:
        """Whether the panel sums money, so its query and chart depend on the currency."""
        return any(column.unit == CURRENCY for column in self.columns)

    def columns_in(self, currency: str) -> tuple[ColumnSpec, ...]:
        """The columns with the money placeholder replaced by ``currency``."""
        return in_currency(self.columns, currency)

    def column(self, name: str) -> ColumnSpec:
        """The column called ``name`` (ValidationError naming the panel's columns if none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise ValidationError(
            "column",
            f"panel {self.name!r} has no column {name!r}; expected one of "
            f"{', '.join(column.name for column in self.columns)}",
            value=name,
        )

    @property
    def chart_function(self) -> Callable[..., go.Figure] | None:
        """``charts.<name>``, or None for a panel not shown as a chart."""
        if not self.charted:
            return None
        from gallery_analytics import charts  # lazy: see the module docstring

        function: Callable[..., go.Figure] | None = getattr(charts, self.name, None)
        if function is None:
            raise ValidationError(
                "panel", f"panel {self.name!r} is charted but charts.{self.name} does not exist"
            )
        return function

    def chart(
        self,
        frame: pd.DataFrame,
        *,
        currency: str | None = None,
        period: tuple[dt.date, dt.date] | None = None,
    ) -> go.Figure:
        """The panel's chart of ``frame`` (``to_frame`` of its result): the chart function
        is given the panel's title and column specs (axis titles, units, formats).

        ``currency`` labels the money columns (default EUR); panels without money ignore
        it, so callers may pass it to every panel. ``period`` (the filters' start and
        end) lets time charts mark a month or week it covers only in part.
        """
        reject_awaitable(frame, field="frame")
        function = self.chart_function
        if function is None:
            raise ValidationError(
                "panel",
                f"panel {self.name!r} is shown as {self.display.value}, not a chart; "
                "show it with panels.show() or panels.table()",
            )
        return function(
            frame, columns=self.columns, title=self.title, currency=currency, period=period
        )

    def draw(
        self,
        result: PanelResult,
        *,
        currency: str | None = None,
        period: tuple[dt.date, dt.date] | None = None,
    ) -> go.Figure:
        """The figure for one of this panel's results: its chart, or a figure that says
        why there is none (the panel failed, or it is not shown as a chart). The currency
        is the one the result was loaded in, unless ``currency`` is given; ``period`` is
        the load's start and end (partial first and last months and weeks are marked)."""
        reject_awaitable(result, field="result")
        from gallery_analytics import charts
        from gallery_analytics.frames import to_frame

        if not result.ok:
            return charts.no_data_figure(result.title, f"Panel failed: {result.error}")
        if not self.charted:
            return charts.no_data_figure(result.title, NO_CHART)
        return self.chart(
            to_frame(result), currency=currency or _currency_of(result), period=period
        )

    def show(self, result: PanelResult) -> go.Figure | pd.DataFrame:
        """One of this panel's results as a static page (the report) shows it: the chart
        of a chart panel, else its table (tiles are a table on a page that has none)."""
        reject_awaitable(result, field="result")
        return self.draw(result) if self.charted else table(result)


def _currency_of(result: PanelResult) -> str | None:
    """The currency a result's money columns were filled in with (None if not filled)."""
    units = {column.unit for column in result.columns if column.is_money}
    units.discard(CURRENCY)
    return units.pop() if len(units) == 1 else None


def _col(
    name: str,
    kind: Kind,
    *,
    unit: str = "",
    format: str = "",
    label: str = "",
    categories: tuple[str, ...] = (),
) -> ColumnSpec:
    return ColumnSpec(name, kind, categories, unit=unit, format=format, label=label)


PANELS: Final[tuple[Panel, ...]] = (
    Panel(  # first: the headline numbers
        "key_figures",
        "Key figures",
        (
            _col("artworks", Kind.INT, unit="artworks", format=COUNT),
            _col("revenue", Kind.FLOAT, unit=CURRENCY, format=ROUNDED_MONEY),
            _col(
                "active_exhibitions",
                Kind.INT,
                unit="exhibitions",
                format=COUNT,
                label="Exhibitions open",
            ),
            _col("visitors", Kind.INT, unit="visitors", format=COUNT),
        ),
        sql.key_figures,
        display=Display.TILES,
        needs_today=True,
        excluded=sql.SALES_WITHOUT_RATE,
    ),
    Panel(
        "monthly_revenue",
        "Revenue by month",
        (
            _col("month", Kind.TIMESTAMPTZ, format="%b %Y"),
            _col("sales", Kind.INT, unit="sales", format=COUNT),
            _col("revenue", Kind.FLOAT, unit=CURRENCY, format=MONEY),
            _col("average_price", Kind.FLOAT, unit=CURRENCY, format=MONEY),
        ),
        sql.monthly_revenue,
        display=Display.CHART,
        selects=("month",),
        excluded=sql.SALES_WITHOUT_RATE,
    ),
    Panel(
        "top_artists",
        "Top artists by revenue",
        (
            _col("rank", Kind.INT, format="d"),
            _col("artist_id", Kind.STRING, label="Artist id"),
            _col("artist", Kind.STRING),
            _col("nationality", Kind.STRING),
            _col("sales", Kind.INT, unit="sales", format=COUNT),
            _col("revenue", Kind.FLOAT, unit=CURRENCY, format=MONEY),
            _col("share", Kind.FLOAT, format=".1%", label="Share of revenue"),
        ),
        sql.top_artists,
        display=Display.CHART,
        selects=("artist_id",),
        excluded=sql.SALES_WITHOUT_RATE,
    ),
    Panel(
        "artworks_by_medium_status",
        "Artworks by medium and status (count)",
        (
            _col("medium", Kind.STRING),
            _col("status", Kind.CATEGORY, categories=STATUSES),
            _col("artworks", Kind.INT, unit="artworks", format=COUNT),
            _col("list_value", Kind.FLOAT, unit=CURRENCY, format=ROUNDED_MONEY),
        ),
        sql.artworks_by_medium_status,
        display=Display.CHART,
        excluded=sql.LIST_PRICES_WITHOUT_RATE,
        selects=("medium", "status"),
    ),
    Panel(
        "acquisitions_per_year",
        "Acquisitions per year",
        (
            _col("year", Kind.INT, format="d", label="Year acquired"),
            _col("artworks", Kind.INT, unit="artworks", format=COUNT),
            _col("list_value", Kind.FLOAT, unit=CURRENCY, format=ROUNDED_MONEY),
        ),
        sql.acquisitions_per_year,
        display=Display.CHART,
        excluded=sql.DATED_LIST_PRICES_WITHOUT_RATE,
    ),
    Panel(
        "exhibition_attendance",
        "Exhibition attendance",
        (
            _col("week", Kind.DATE, format="%d %b %Y", label="Week (from Monday)"),
            _col("visitors", Kind.INT, unit="visitors", format=COUNT, label="Visitors per week"),
            _col("exhibitions_open", Kind.INT, unit="exhibitions", format=COUNT),
        ),
        sql.exhibition_attendance,
        display=Display.CHART,
    ),
    Panel(
        "artists_by_nationality_gender",
        "Artists by nationality and gender",
        (
            _col("nationality", Kind.STRING),
            _col("gender", Kind.STRING),
            _col("artists", Kind.INT, unit="artists", format=COUNT),
        ),
        sql.artists_by_nationality_gender,
        display=Display.CHART,
    ),
)
"""Every dashboard panel, in the order dashboards and reports show them."""

_BY_NAME: Final = {declared.name: declared for declared in PANELS}


def panel(name: str, *, field: str = "panel") -> Panel:
    """The registered panel called ``name``; a ValidationError (on ``field``) lists the
    valid names otherwise."""
    reject_awaitable(name, field=field)
    found = _BY_NAME.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValidationError(
            field, f"unknown panel {name!r}; expected one of {', '.join(_BY_NAME)}", value=name
        )
    return found


def draw(
    result: PanelResult,
    *,
    currency: str | None = None,
    period: tuple[dt.date, dt.date] | None = None,
) -> go.Figure:
    """The figure for a panel result of the overview: ``panel(result.name).draw(result)``;
    a result of a panel that is not registered gets a figure saying it has no chart.
    ``period``: the filters' (start, end), so a partial first or last month or week is
    marked as such (see :data:`gallery_analytics.charts.Period`)."""
    reject_awaitable(result, field="result")
    registered = _BY_NAME.get(result.name)
    if registered is None:
        from gallery_analytics import charts

        return charts.no_data_figure(result.title, NO_CHART)
    return registered.draw(result, currency=currency, period=period)


def table(result: PanelResult, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A panel result for people: one column per declared column (or ``columns``), headed
    by label and unit ("Revenue (EUR)"), values as text in the column's display format.
    Any panel's result may be shown so; tiles and table panels are shown only so.
    Nulls are shown as "-"; a result's rows hold its declared kinds (PanelResult checks
    them, from JSON too), so dates read back from JSON are shown as dates."""
    reject_awaitable(result, field="result")
    reject_awaitable(columns, field="columns")
    import pandas as pd

    specs = {spec.name: spec for spec in _chosen(result, columns)}
    return pd.DataFrame(
        {
            spec.heading(): [spec.show(row[name]) for row in result.rows]
            for name, spec in specs.items()
        },
        columns=[spec.heading() for spec in specs.values()],
    )


def _chosen(result: PanelResult, columns: Sequence[str] | None) -> list[ColumnSpec]:
    """The specs of ``columns`` of ``result`` (all of them for None), in that order; a
    ValidationError naming the panel for anything but a list of its column names."""
    specs = {spec.name: spec for spec in result.columns}
    if isinstance(columns, str) or not (
        columns is None
        or (isinstance(columns, Sequence) and all(isinstance(name, str) for name in columns))
    ):
        raise ValidationError(
            "columns",
            f"panel {result.name!r}: expected a list of column names such as "
            f"[{next(iter(specs), 'name')!r}], got {type(columns).__name__} {columns!r}",
            value=columns,
        )
    chosen = list(specs) if columns is None else list(columns)
    unknown = [name for name in chosen if name not in specs]
    if unknown:
        raise ValidationError(
            "columns",
            f"panel {result.name!r} has no column {unknown[0]!r}; expected one of "
            f"{', '.join(specs)}",
            value=unknown[0],
        )
    return [specs[name] for name in chosen]


_NUMBER_KINDS: Final = frozenset({Kind.INT, Kind.FLOAT})
_DATE_KINDS: Final = frozenset({Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ})
_ALIGN: Final = {"number": "right", "date": "right", "text": "left"}


def _cell_class(spec: ColumnSpec) -> str:
    if spec.kind in _NUMBER_KINDS:
        return "number"
    return "date" if spec.kind in _DATE_KINDS else "text"


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def table_csv(result: PanelResult) -> str:
    """A panel's rows as CSV for a spreadsheet: the table's columns and headings
    ("Revenue (EUR)"), values as values (numbers unformatted, dates ISO 8601, nulls
    empty) so they calculate. Text that a spreadsheet would run as a formula (an
    artist called ``=HYPERLINK(...)``) is prefixed with ``'``, which shows it as text."""
    reject_awaitable(result, field="result")
    import csv
    import datetime as dt
    import io

    def cell(value: object) -> object:
        if value is None:
            return ""
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            return "'" + value
        return value

    specs = _chosen(result, None)
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: CRLF rows, any CR or LF in a value quoted
    writer.writerow([spec.heading() for spec in specs])
    for row in result.rows:
        writer.writerow([cell(row[spec.name]) for spec in specs])
    return buffer.getvalue()


def table_html(result: PanelResult, *, columns: Sequence[str] | None = None) -> str:
    """A panel result as an HTML ``<table>``, every piece of text escaped: the title as
    its caption, one ``<th>`` per declared column (or ``columns``) headed as
    :func:`table` heads it ("Revenue (EUR)"), each cell in its column's display format
    ("1,592,900", "18.0%"; nulls "-"), and no row index.

    Pure (``PanelResult -> str``) so the report and the dashboard show tables alike.
    Class hooks for styling: ``gallery-table`` (with ``data-panel``), ``gallery-cell``
    plus ``gallery-number``, ``gallery-date`` or ``gallery-text`` on headings and cells;
    numbers and dates carry ``text-align: right`` and tabular figures inline, so
    columns line up with no stylesheet. A failed panel gets one row with its error, an
    empty one a row saying there is no data."""
    reject_awaitable(result, field="result")
    reject_awaitable(columns, field="columns")
    specs = _chosen(result, columns)

    def cell(tag: str, spec: ColumnSpec, text: str, scope: str = "") -> str:
        kind = _cell_class(spec)
        style = f"text-align: {_ALIGN[kind]}"
        if kind != "text":
            style += "; font-variant-numeric: tabular-nums; white-space: nowrap"
        return (
            f'<{tag}{scope} class="gallery-cell gallery-{kind}" style="{style}">'
            f"{html.escape(text)}</{tag}>"
        )

    head = "".join(cell("th", spec, spec.heading(), ' scope="col"') for spec in specs)
    if not result.ok:
        message = f"Panel failed: {result.error or result.status}"
        body = _whole_row(message, "gallery-table-error", len(specs))
    elif not result.rows:
        body = _whole_row("No data for the current filters", "gallery-table-empty", len(specs))
    else:
        body = "".join(
            "<tr>"
            + "".join(cell("td", spec, spec.show(row[spec.name])) for spec in specs)
            + "</tr>"
            for row in result.rows
        )
    return (
        f'<table class="gallery-table" data-panel="{html.escape(result.name)}">'
        f'<caption class="gallery-table-caption">{html.escape(result.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _whole_row(text: str, css_class: str, columns: int) -> str:
    return (
        f'<tr><td class="gallery-cell {css_class}" colspan="{max(columns, 1)}">'
        f"{html.escape(' '.join(text.split()))}</td></tr>"
    )


def notes_html(result: PanelResult) -> str:
    """A panel's notes (what it left out, and other sentences a reader must see beside
    it) as an escaped ``<ul class="gallery-panel-notes">`` of ``<li>`` items, each with
    ``role="note"``; "" when it has none."""
    reject_awaitable(result, field="result")
    if not result.notes:
        return ""
    items = "".join(
        f'<li class="gallery-panel-note" role="note">{html.escape(note)}</li>'
        for note in result.notes
    )
    return f'<ul class="gallery-panel-notes" data-panel="{html.escape(result.name)}">{items}</ul>'


def show(result: PanelResult) -> go.Figure | pd.DataFrame:
    """A panel result of the overview as a static page shows it (see :meth:`Panel.show`);
    a result of a panel that is not registered is shown as a table."""
    reject_awaitable(result, field="result")
    registered = _BY_NAME.get(result.name)
    return table(result) if registered is None else registered.show(result)
