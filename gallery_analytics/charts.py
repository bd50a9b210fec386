"""Plotly figures for the gallery dashboard, built from the analytics frames.

Every function is pure: it takes a pandas DataFrame, returns a themed ``go.Figure`` and
never mutates its input. Empty frames, or frames whose value column is entirely null,
yield a "no data" figure instead of an error so a dashboard with tight filters still
renders. Importing this module only registers the ``"gallery"`` plotly template; it does
not change ``plotly.io.templates.default``.

A dashboard panel's chart has the panel's name (``monthly_revenue`` draws the
``monthly_revenue`` panel) and draws what it is given: the panel's title and its column
specs (:class:`~gallery_analytics.domain.columns.ColumnSpec`), which say what each axis
is called ("Revenue (EUR)", from ``spec.heading()``) and how values are formatted on
ticks and in hover text (``spec.format``, a d3 format plotly reads as Python would). The
frame is checked against those specs. The documented way to draw a panel is
``panels.panel("monthly_revenue").chart(frame)`` (or ``panels.draw(result)``), which
passes them: the registry (:mod:`gallery_analytics.panels`, a layer above) is the one
place a panel's columns, units and formats are written, and charts never look it up.

Time axes get their ticks from :func:`date_ticks` (explicit ``tickvals``/``ticktext``,
so what plotly shows is decided and testable here): each tick names its day, week,
month or year once, whatever the span. Panel charts also take ``period``, the filters'
start and end, and mark a first or last month or week that it covers only in part, so
a period ending mid-week does not read as a collapse.
"""

from __future__ import annotations

import calendar
import contextlib
import contextvars
import datetime as dt
import html
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeAlias

import numpy as np
import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]

from gallery_analytics.domain.columns import ColumnSpec, Kind, in_currency
from gallery_analytics.domain.enums import OTHER_MEDIUM, UNKNOWN, ArtworkStatus
from gallery_analytics.domain.values import reject_awaitable, require_currency_code
from gallery_analytics.errors import ValidationError

__all__ = [
    "NO_DATA_MESSAGE",
    "PALETTE",
    "PARTIAL",
    "STATUS_COLOURS",
    "TEMPLATE_NAME",
    "acquisitions_per_year",
    "apply_theme",
    "artists_by_nationality_gender",
    "artworks_by_medium_status",
    "exhibition_attendance",
    "exhibition_timeline",
    "monthly_revenue",
    "no_data_figure",
    "top_artists",
]

# Okabe-Ito: distinguishable under the common forms of colour blindness.
PALETTE: Final[tuple[str, ...]] = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
)
# Fixed per status so the same status has the same colour on every chart.
STATUS_COLOURS: Final[Mapping[ArtworkStatus, str]] = {
    ArtworkStatus.AVAILABLE: "#009E73",
    ArtworkStatus.RESERVED: "#E69F00",
    ArtworkStatus.SOLD: "#0072B2",
    ArtworkStatus.ON_LOAN: "#CC79A7",
}
TEMPLATE_NAME: Final = "gallery"
NO_DATA_MESSAGE: Final = "No data for the current filters"
DEFAULT_CURRENCY: Final = "EUR"

# The exhibition timeline is not a dashboard panel (it draws a user's exhibitions), so it
# has no specs in the registry: the columns it reads, checked up front.
_TIMELINE_COLUMNS: Final = ("id", "title", "venue", "city", "starts_on", "ends_on")
_NEUTRAL: Final = "#BBBBBB"  # statuses outside STATUS_COLOURS, medium tiles in the treemap
_ROW_HEIGHT: Final = 26  # pixels per bar in horizontal bar charts with one row per category
_DATE_KINDS: Final = frozenset({Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ})
PARTIAL: Final = "partial"
"""The annotation over a month or week the report's period covers only in part."""
_PARTIAL_FILL: Final = "rgba(0, 0, 0, 0.06)"  # the band behind a partial week

Period: TypeAlias = tuple[dt.date, dt.date]
"""The first and last day (inclusive) a chart's data was selected for: the filters'
start and end. Time charts use it to mark a first or last month or week that the period
covers only in part, so a period ending mid-week does not look like a collapse."""


def _build_template() -> go.layout.Template:
    """The gallery look: plotly_white with the Okabe-Ito colorway and a quieter layout."""
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(
        colorway=list(PALETTE),
        font={"family": "Inter, 'Helvetica Neue', Arial, sans-serif", "size": 13},
        title={"x": 0.0, "xanchor": "left", "font": {"size": 18}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.0},
        margin={"l": 70, "r": 30, "t": 80, "b": 60},
        hoverlabel={"namelength": -1},
    )
    return template


GALLERY_TEMPLATE: Final = _build_template()
pio.templates[TEMPLATE_NAME] = GALLERY_TEMPLATE

# How every gallery figure is shown (report HTML, notebook outputs, dashboard widgets):
# no "Share chart" button, which uploads the figure and its data to Plotly's cloud, and
# no other link off the page.
PLOTLY_CONFIG: Final[dict[str, object]] = {
    "displaylogo": False,
    "showSendToCloud": False,
    "modeBarButtonsToRemove": ["sendChartToCloud", "sendDataToCloud", "editInChartStudio"],
}


def _configure_renderers() -> None:
    """Give plotly's notebook renderers (the MIME bundle a kernel outputs, and the HTML
    ones) the gallery config, so a figure shown in a notebook has no cloud button either."""
    for name in pio.renderers:
        renderer = pio.renderers[name]
        if hasattr(renderer, "config"):
            renderer.config = {**(renderer.config or {}), **PLOTLY_CONFIG}


_configure_renderers()


def selection_id(**selected: str) -> str:
    """A clickable point's id: what a click on it selects, as JSON (``{"medium":
    "Print"}``), which the dashboard turns into a cross-filter of the other panels
    (:mod:`gallery_analytics.widgets.crossfilter` checks it). Points whose id is not
    JSON select nothing."""
    return json.dumps(selected, sort_keys=True, ensure_ascii=False)


def plain_text(value: object) -> str:
    """``value`` as text plotly shows literally.

    Plotly reads a small HTML subset in every label, title and hover text (``<b>``,
    ``<br>``, ``<a href>``...), so free text from the data (artist names, mediums,
    titles, error messages) is entity-escaped; plotly turns ``&lt;`` back into ``<``.
    """
    return html.escape(str(value), quote=False)


_THEMED: contextvars.ContextVar[bool] = contextvars.ContextVar("gallery_themed", default=True)


def apply_theme(fig: go.Figure) -> go.Figure:
    """Set the gallery template on ``fig`` (in place) and return it, for chaining.

    Uses the module's template object rather than the registered name, so figures stay
    consistent even if someone re-registers "gallery" later. Inside :func:`unthemed`
    this does nothing.
    """
    if _THEMED.get():
        fig.update_layout(template=GALLERY_TEMPLATE)
    return fig


@contextlib.contextmanager
def unthemed() -> Iterator[None]:
    """Build figures without the template, for targets that already carry it.

    Validating and copying the template is most of the cost of building a figure
    (about 25 ms each here); a FigureWidget that is themed once and then updated in
    place (the interactive dashboard) does not need it again on every refresh.
    """
    token = _THEMED.set(False)
    try:
        yield
    finally:
        _THEMED.reset(token)


def no_data_figure(title: str, message: str = NO_DATA_MESSAGE) -> go.Figure:
    """A themed figure with only ``title`` and a centred ``message``, axes hidden.

    Returned by every chart function for empty input, so callers never special-case it.
    """
    fig = go.Figure()
    fig.update_layout(
        title={"text": plain_text(title)},
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": plain_text(message),
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 16, "color": "#666666"},
            }
        ],
    )
    return apply_theme(fig)


def _usable_rows(
    frame: pd.DataFrame, chart: str, *, columns: Sequence[str], values: Sequence[str]
) -> pd.DataFrame:
    """Rows of ``frame`` with no null in ``values``; fail clearly if one of ``columns`` is
    missing, rather than with a bare KeyError deep inside plotting."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(
            "frame", f"{chart} draws a pandas DataFrame, got {type(frame).__name__}"
        )
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValidationError(
            f"frame.{missing[0]}",
            f"{chart} needs column(s) {', '.join(missing)}; the frame has "
            f"{', '.join(map(str, frame.columns)) or 'no columns'}",
        )
    return frame.dropna(subset=list(values))


@dataclass(frozen=True, slots=True)
class _Specs:
    """What a panel chart draws with: the title and the column specs it was given."""

    chart: str
    title: str
    columns: Mapping[str, ColumnSpec]

    def __getitem__(self, name: str) -> ColumnSpec:
        found = self.columns.get(name)
        if found is None:
            raise ValidationError(
                f"columns.{name}",
                f"{self.chart} draws column {name!r} but was given no spec for it; "
                f"it has {', '.join(self.columns) or 'none'}",
            )
        return found

    def heading(self, name: str) -> dict[str, object]:
        """An axis or legend title: the column's label and unit ("Revenue (EUR)")."""
        return {"text": plain_text(self[name].heading())}

    def value(self, name: str, reference: str) -> str:
        """A plotly template reference to a value of column ``name``, in its format:
        ``%{y:,.2f}``, or ``%{x|%b %Y}`` for dates."""
        spec = self[name]
        if not spec.format:
            return f"%{{{reference}}}"
        separator = "|" if spec.kind in _DATE_KINDS else ":"
        return f"%{{{reference}{separator}{spec.format}}}"

    def hover(self, name: str, reference: str) -> str:
        """One hover line: "Revenue: 1,500.00 EUR" (the unit unless the label names it)."""
        spec = self[name]
        shown = spec.unit and spec.unit.lower() not in spec.label.lower()
        unit = f" {plain_text(spec.unit)}" if shown else ""
        return f"{plain_text(spec.label)}: {self.value(name, reference)}{unit}"


def _panel_chart(
    chart: str,
    frame: pd.DataFrame,
    *,
    columns: Sequence[ColumnSpec],
    title: str,
    currency: str | None,
    values: Sequence[str],
) -> tuple[_Specs, pd.DataFrame]:
    """The specs a panel chart draws with, and the frame's usable rows (checked against
    the specs). The specs and title are the panel's declaration, given by the registry
    (``panels.panel(name).chart(frame)``): charts sit below the registry and never look
    a panel up themselves."""
    reject_awaitable(frame, field="frame")
    reject_awaitable(columns, field="columns")
    code = require_currency_code(DEFAULT_CURRENCY if currency is None else currency)
    specs = in_currency(tuple(columns), code)
    for spec in specs:
        if spec.is_money:  # its unit goes into hover templates: a code, nothing else
            require_currency_code(spec.unit, field=f"columns.{spec.name}.unit")
    shown = _Specs(chart, title, {spec.name: spec for spec in specs})
    for name in values:
        _ = shown[name]
    rows = _usable_rows(frame, chart, columns=list(shown.columns), values=values)
    return shown, rows


def _status_colour(label: str) -> str:
    try:
        return STATUS_COLOURS[ArtworkStatus(label)]
    except ValueError:
        return _NEUTRAL


def _floats(series: pd.Series) -> np.ndarray:
    """Numeric column as a float array, nulls as NaN (works for nullable dtypes too)."""
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _labels(series: pd.Series, missing: str) -> list[str]:
    """String/categorical column as escaped text (see plain_text), nulls as ``missing``."""
    return [plain_text(missing if pd.isna(value) else value) for value in series.tolist()]


def _bar_height(rows: int) -> int:
    """Figure height that keeps one-row-per-category bar charts readable."""
    return max(400, 160 + _ROW_HEIGHT * rows)


# -- date axes --------------------------------------------------------------------------------

_MONTH_NAMES: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
MAX_TICKS: Final = 8
"""At most this many labelled ticks on a time axis: they fit a half-width column."""


class TickUnit(StrEnum):
    """The calendar unit of a time axis's tick step."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


# Tick steps from the finest to the coarsest; a time axis takes the first one that puts
# at most MAX_TICKS ticks on its data's span (a day to several millennia).
_STEPS: Final[tuple[tuple[TickUnit, int], ...]] = (
    (TickUnit.DAY, 1),
    (TickUnit.DAY, 2),
    (TickUnit.WEEK, 1),
    (TickUnit.WEEK, 2),
    (TickUnit.MONTH, 1),
    (TickUnit.MONTH, 2),
    (TickUnit.MONTH, 3),
    (TickUnit.MONTH, 6),
    *((TickUnit.YEAR, n) for n in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)),
)
_ORDER: Final = tuple(TickUnit)


@dataclass(frozen=True, slots=True)
class DateTicks:
    """The ticks of a time axis, chosen in Python so what plotly shows is known here:
    ``dates`` (calendar dates, in order) labelled ``labels`` (distinct, in the same
    order), one every ``step`` ``unit``. A label names the tick at the step's own
    granularity ("07 Oct 2024" for days and weeks, "Oct 2024" for months, "2024" for
    years), so no two ticks share a label however short or long the span."""

    dates: tuple[dt.date, ...]
    labels: tuple[str, ...]
    unit: TickUnit
    step: int


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def _tick_dates(first: dt.date, last: dt.date, unit: TickUnit, step: int) -> range:
    """The ordinals (days: date.toordinal(); months: year * 12 + month - 1; years) of the
    ticks of one step in [first, last], as a range (so counting a span of decades in days
    costs nothing). Weeks start on Mondays, months on the 1st and years on 1 January;
    steps of several months or years are aligned to multiples of the step."""
    if unit is TickUnit.DAY:
        return range(first.toordinal(), last.toordinal() + 1, step)
    if unit is TickUnit.WEEK:
        monday = first.toordinal() + (-first.weekday()) % 7
        return range(monday, last.toordinal() + 1, 7 * step)
    if unit is TickUnit.MONTH:
        low = _month_index(first) + (first.day != 1)
        high = _month_index(last)
    else:
        low = first.year + (first != dt.date(first.year, 1, 1))
        high = last.year
    return range(-(-low // step) * step, high + 1, step)


def _tick_date(ordinal: int, unit: TickUnit) -> dt.date:
    if unit is TickUnit.MONTH:
        return _month_start(ordinal)
    if unit is TickUnit.YEAR:
        return dt.date(ordinal, 1, 1)
    return dt.date.fromordinal(ordinal)


def tick_label(day: dt.date, unit: TickUnit) -> str:
    """A tick's label at ``unit``'s granularity (no locale: month names are English)."""
    month = _MONTH_NAMES[day.month - 1]
    if unit is TickUnit.YEAR:
        return str(day.year)
    if unit is TickUnit.MONTH:
        return f"{month} {day.year}"
    return f"{day.day:02d} {month} {day.year}"


def date_ticks(
    first: dt.date,
    last: dt.date,
    *,
    finest: TickUnit = TickUnit.DAY,
    max_ticks: int = MAX_TICKS,
) -> DateTicks:
    """Ticks for a time axis whose data runs from ``first`` to ``last`` (inclusive).

    Plotly's automatic date ticks repeat labels on short ranges (ticks every few days
    labelled by month: "Oct 2024, Oct 2024, Nov 2024"); these are chosen from the span:
    the finest step (no finer than ``finest``, the data's own period) that puts at
    most ``max_ticks`` ticks within it. Every tick lies within [first, last], so plotly,
    given them as ``tickvals``/``ticktext``, shows all of them.
    """
    if last < first:
        first, last = last, first
    start = _ORDER.index(finest)
    for unit, step in _STEPS:
        if _ORDER.index(unit) < start:
            continue
        ordinals = _tick_dates(first, last, unit, step)
        if 1 <= len(ordinals) <= max_ticks:
            dates = tuple(_tick_date(ordinal, unit) for ordinal in ordinals)
            return DateTicks(dates, tuple(tick_label(d, unit) for d in dates), unit, step)
    # Unreachable for spans within the calendar (the coarsest step is 5,000 years); a
    # span with no tick of the finest unit (a few days of monthly data) gets one at first.
    return DateTicks((first,), (tick_label(first, finest),), finest, 1)


def year_ticks(first: int, last: int, *, max_ticks: int = MAX_TICKS) -> list[int]:
    """Whole years in [first, last] for a numeric year axis: every year, or every 2, 5,
    10... years (multiples of the step), the finest step giving at most ``max_ticks``."""
    first, last = min(first, last), max(first, last)
    for unit, step in _STEPS:
        if unit is not TickUnit.YEAR:
            continue
        years = range(-(-first // step) * step, last + 1, step)
        if 1 <= len(years) <= max_ticks:
            return list(years)
    return [first]


_NICE: Final = (1, 2, 5)  # tick steps of counts: 1, 2, 5, 10, 20, 50, ...


def _count_ticks(spec: ColumnSpec, maximum: float) -> dict[str, object]:
    """Value-axis ticks for a count (an INT column): whole steps of 1, 2, 5, 10, 20...
    from 0, at most MAX_TICKS up to ``maximum``. Plotly's own step for a maximum of 2
    is 0.5, which a whole-number format labels "0, 1, 1, 2, 2"."""
    if spec.kind is not Kind.INT:
        return {"tickformat": spec.format}
    mantissa, scale = 0, 1
    while maximum / (_NICE[mantissa] * scale) > MAX_TICKS:
        mantissa = (mantissa + 1) % len(_NICE)
        scale *= 10 if mantissa == 0 else 1
    step = _NICE[mantissa] * scale
    return {"tickformat": spec.format, "tickmode": "linear", "tick0": 0, "dtick": step}


def _check_period(period: Period | None) -> Period | None:
    reject_awaitable(period, field="period")
    if period is None:
        return None
    if (
        not isinstance(period, tuple | list)
        or len(period) != 2
        or not all(isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in period)
    ):
        raise ValidationError(
            "period", f"expected (start, end) as two dates, got {period!r}", value=period
        )
    start, end = period
    if start > end:
        raise ValidationError("period", f"the period {start} to {end} is reversed", value=period)
    return start, end


def _partial_note(first: dt.date, last: dt.date, period: Period | None, noun: str) -> str:
    """ "" for a month or week (``first`` to ``last``) the period covers whole, else the
    hover line saying which part of it the data covers."""
    if period is None:
        return ""
    start, end = max(first, period[0]), min(last, period[1])
    if (start, end) == (first, last):
        return ""
    return (
        f"<br><i>Partial {noun}: {tick_label(start, TickUnit.DAY)} to "
        f"{tick_label(end, TickUnit.DAY)} only</i>"
    )


def _partial_annotation(x: str, y: float | str, *, yref: str = "y") -> dict[str, object]:
    return {
        "x": x,
        "y": y,
        "xref": "x",
        "yref": yref,
        "text": PARTIAL,
        "showarrow": False,
        "yanchor": "bottom",
        "font": {"size": 11, "color": "#555555"},
    }


def _month_middle(first: dt.date) -> dt.datetime:
    """Where plotly centres a month's bar (``xperiodalignment="middle"``)."""
    days = calendar.monthrange(first.year, first.month)[1]
    return dt.datetime.combine(first, dt.time()) + dt.timedelta(days=days) / 2


def _iso(moment: dt.date) -> str:
    """A date axis position as plotly reads it (four-digit years, also before 1000)."""
    if isinstance(moment, dt.datetime):
        return f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}"
    return f"{moment.year:04d}-{moment:%m-%d}"


def _dates(series: pd.Series) -> list[dt.date]:
    """A date or timestamp column as calendar dates (UTC for zoned ones), at microsecond
    resolution: nanosecond Timestamps end in 2262 and the data's dates run to 9999."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if not pd.api.types.is_datetime64_dtype(series.dtype):
        series = pd.Series(np.asarray(series.tolist(), dtype="datetime64[us]"))
    return [moment.date() for moment in series.dt.to_pydatetime()]


def _days_after(day: dt.date, days: int) -> dt.date:
    """``day`` + ``days``, stopping at the calendar's last day (9999-12-31)."""
    return dt.date.fromordinal(min(day.toordinal() + days, dt.date.max.toordinal()))


def _date_axis(
    ticks: DateTicks, positions: Iterable[str], spec: ColumnSpec | None = None
) -> dict[str, object]:
    """A date axis showing exactly ``ticks``. Ticks at the granularity of the column's
    own period (``spec.format``, e.g. month and year for months) are labelled in the spec's format,
    as long as that keeps the labels distinct; coarser ones ("2024") by the ticks."""
    labels = list(ticks.labels)
    if spec is not None and spec.format and ticks.unit is not TickUnit.YEAR:
        own = [format(day, spec.format) for day in ticks.dates]
        if len(set(own)) == len(own) and (ticks.unit is TickUnit.MONTH) == (
            "%d" not in spec.format
        ):
            labels = own
    return {"type": "date", "tickmode": "array", "tickvals": list(positions), "ticktext": labels}


def monthly_revenue(
    frame: pd.DataFrame,
    *,
    columns: Sequence[ColumnSpec],
    title: str,
    currency: str | None = None,
    period: Period | None = None,
) -> go.Figure:
    """Monthly revenue as bars; hover adds the number of sales and the average price.

    Columns (see the panel's specs): ``month`` (datetime64[us, UTC], start of month),
    ``sales``, ``revenue``, ``average_price``. Months are shown in UTC since plotly axes
    have no zone. ``currency`` fills in the money columns' unit (default EUR). The month
    axis is labelled by :func:`date_ticks` (one label per month, or per quarter, year...
    as the span needs). A month that ``period`` (the filters' start and end) covers only
    in part is hatched, lighter, annotated "partial" and says so in its hover: its
    lower revenue is the period's cut, not a collapse.
    """
    period = _check_period(period)
    specs, rows = _panel_chart(
        "monthly_revenue",
        frame,
        columns=columns,
        title=title,
        currency=currency,
        values=["month", "revenue"],
    )
    rows = rows.sort_values("month", kind="stable")
    if rows.empty:
        return no_data_figure(specs.title)
    months = pd.to_datetime(rows["month"], utc=True).dt.tz_localize(None)
    firsts = [day.replace(day=1) for day in _dates(rows["month"])]
    lasts = [day.replace(day=calendar.monthrange(day.year, day.month)[1]) for day in firsts]
    notes = [_partial_note(f, la, period, "month") for f, la in zip(firsts, lasts, strict=True)]
    partial = [bool(note) for note in notes]
    revenue = _floats(rows["revenue"])
    fig = go.Figure(
        go.Bar(
            x=months.to_numpy(),
            y=revenue,
            ids=[selection_id(month=f"{first:%Y-%m}") for first in firsts],
            customdata=np.column_stack([_floats(rows["sales"]), _floats(rows["average_price"])]),
            hovertext=notes,
            xperiod="M1",
            xperiodalignment="middle",
            marker={
                "color": PALETTE[4],
                "opacity": [0.45 if p else 1.0 for p in partial],
                "pattern": {"shape": ["/" if p else "" for p in partial]},
            },
            name=plain_text(specs["revenue"].label),
            hovertemplate="<br>".join(
                [
                    specs.value("month", "x"),
                    specs.hover("revenue", "y"),
                    specs.hover("sales", "customdata[0]"),
                    specs.hover("average_price", "customdata[1]"),
                ]
            )
            + "%{hovertext}<extra></extra>",
        )
    )
    ticks = date_ticks(firsts[0], firsts[-1], finest=TickUnit.MONTH)
    fig.update_layout(
        title={"text": plain_text(specs.title)},
        xaxis={
            "title": specs.heading("month"),
            **_date_axis(ticks, [_iso(_month_middle(d)) for d in ticks.dates], specs["month"]),
        },
        yaxis={
            "title": specs.heading("revenue"),
            "tickformat": specs["revenue"].format,
            "rangemode": "tozero",
        },
        annotations=[
            _partial_annotation(_iso(_month_middle(first)), 0.0 if np.isnan(y) else float(y))
            for first, y, p in zip(firsts, revenue, partial, strict=True)
            if p
        ],
    )
    return apply_theme(fig)


def top_artists(
    frame: pd.DataFrame,
    *,
    columns: Sequence[ColumnSpec],
    title: str,
    currency: str | None = None,
    period: Period | None = None,
) -> go.Figure:
    """Artists by revenue as horizontal bars, rank 1 at the top, labelled with revenue share.

    Columns (see the panel's specs): ``rank``, ``artist_id``, ``artist``, ``nationality``
    (may be NA), ``sales``, ``revenue``, ``share`` (0..1). Bars are keyed by ``artist_id``
    so two artists with the same name keep separate bars.
    """
    _check_period(period)  # accepted like every panel chart's; nothing here is by time
    specs, rows = _panel_chart(
        "top_artists",
        frame,
        columns=columns,
        title=title,
        currency=currency,
        values=["artist_id", "revenue"],
    )
    rows = rows.sort_values(["rank", "revenue"], ascending=[True, False], kind="stable")
    if rows.empty:
        return no_data_figure(specs.title)
    ids = _labels(rows["artist_id"], "")
    names = _labels(rows["artist"], "Unknown artist")
    shares = _floats(rows["share"])
    share = specs["share"]
    customdata = pd.DataFrame(
        {
            "artist": names,
            "nationality": _labels(rows["nationality"], "unknown"),
            "sales": _floats(rows["sales"]),
            "share": shares,
        }
    ).to_numpy(dtype=object)
    fig = go.Figure(
        go.Bar(
            x=_floats(rows["revenue"]),
            y=ids,
            ids=[selection_id(artist_id=artist) if artist else "" for artist in ids],
            orientation="h",
            marker={"color": PALETTE[4]},
            text=["" if np.isnan(value) else share.show(value) for value in shares],
            textposition="auto",
            customdata=customdata,
            name=plain_text(specs["revenue"].label),
            hovertemplate="<br>".join(
                [
                    "<b>%{customdata[0]}</b> (%{customdata[1]})",
                    specs.hover("revenue", "x"),
                    specs.hover("sales", "customdata[2]"),
                    specs.hover("share", "customdata[3]"),
                ]
            )
            + "<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": plain_text(specs.title)},
        height=_bar_height(len(ids)),
        xaxis={
            "title": specs.heading("revenue"),
            "tickformat": specs["revenue"].format,
            "rangemode": "tozero",
        },
        yaxis={
            "title": specs.heading("artist"),
            "categoryorder": "array",
            "categoryarray": ids,
            "tickmode": "array",
            "tickvals": ids,
            "ticktext": names,
            "autorange": "reversed",
        },
    )
    return apply_theme(fig)


def artworks_by_medium_status(
    frame: pd.DataFrame,
    *,
    columns: Sequence[ColumnSpec],
    title: str,
    currency: str | None = None,
    period: Period | None = None,
) -> go.Figure:
    """Artworks as a treemap, medium tiles split by status, sized by artwork count.

    Columns (see the panel's specs): ``medium`` (already top N + "Other"), ``status``
    (Categorical), ``artworks``, ``list_value``. Status tiles use ``STATUS_COLOURS``;
    the root tile "All artworks" carries the total.
    """
    _check_period(period)  # accepted like every panel chart's; nothing here is by time
    specs, rows = _panel_chart(
        "artworks_by_medium_status",
        frame,
        columns=columns,
        title=title,
        currency=currency,
        values=["artworks"],
    )
    # A click selects a medium (and a status); not the "Other" bucket or unknown mediums.
    # (The query labels a missing medium UNKNOWN; it is not a medium to filter by.)
    selectable = rows["medium"].notna() & ~rows["medium"].isin([OTHER_MEDIUM, UNKNOWN])
    rows = rows.assign(
        selectable=selectable,
        medium=_labels(rows["medium"], "Unknown"),
        status=_labels(rows["status"], "unknown"),
        artworks=_floats(rows["artworks"]),
        list_value=_floats(rows["list_value"]),
    )
    rows = rows[rows["artworks"] > 0]
    if rows.empty:
        return no_data_figure(specs.title)
    leaves = rows.groupby(["medium", "status"], as_index=False, sort=True).agg(
        artworks=("artworks", "sum"),
        list_value=("list_value", "sum"),
        selectable=("selectable", "all"),
    )
    media = leaves.groupby("medium", as_index=False, sort=False).agg(
        artworks=("artworks", "sum"),
        list_value=("list_value", "sum"),
        selectable=("selectable", "all"),
    )
    media = media.sort_values("artworks", ascending=False, kind="stable")
    # Ids say what a click selects (JSON, see selection_id); the rest are positional,
    # since medium names are free text and could collide with any separator.
    medium_ids = {
        name: selection_id(medium=name) if selectable else f"m{i}"
        for i, (name, selectable) in enumerate(
            zip(media["medium"], media["selectable"], strict=True)
        )
    }
    leaf_parents = [medium_ids[name] for name in leaves["medium"]]
    statuses = leaves["status"].tolist()
    leaf_ids = [
        selection_id(medium=name, status=status) if selectable else f"{parent}s{i}"
        for i, (name, status, selectable, parent) in enumerate(
            zip(leaves["medium"], statuses, leaves["selectable"], leaf_parents, strict=True)
        )
    ]
    fig = go.Figure(
        go.Treemap(
            ids=["all", *medium_ids.values(), *leaf_ids],
            labels=["All artworks", *medium_ids, *statuses],
            parents=["", *(["all"] * len(medium_ids)), *leaf_parents],
            values=[
                float(media["artworks"].sum()),
                *media["artworks"].tolist(),
                *leaves["artworks"].tolist(),
            ],
            customdata=[
                float(media["list_value"].sum()),
                *media["list_value"].tolist(),
                *leaves["list_value"].tolist(),
            ],
            branchvalues="total",
            sort=True,
            marker={
                "colors": [
                    "#FFFFFF",
                    *([_NEUTRAL] * len(medium_ids)),
                    *(_status_colour(status) for status in statuses),
                ]
            },
            texttemplate=f"%{{label}}<br>{specs.value('artworks', 'value')}",
            hovertemplate="<br>".join(
                [
                    "<b>%{label}</b>",
                    specs.hover("artworks", "value"),
                    specs.hover("list_value", "customdata"),
                ]
            )
            + "<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": plain_text(specs.title)}, margin={"t": 80, "l": 10, "r": 10, "b": 10}
    )
    return apply_theme(fig)


def acquisitions_per_year(
    frame: pd.DataFrame,
    *,
    columns: Sequence[ColumnSpec],
    title: str,
    currency: str | None = None,
    period: Period | None = None,
) -> go.Figure:
    """Artworks acquired per year as bars on a numeric year axis, so gaps stay visible.

    Columns (see the panel's specs): ``year``, ``artworks``, ``list_value``. Bar width is
    fixed to under a year: plotly would otherwise widen bars to the smallest gap between
    years, making sparse centuries unreadable.
    """
    _check_period(period)  # years acquired are not cut by the period
    specs, rows = _panel_chart(
        "acquisitions_per_year",
        frame,
        columns=columns,
        title=title,
        currency=currency,
        values=["year", "artworks"],
    )
    rows = rows.sort_values("year", kind="stable")
    if rows.empty:
        return no_data_figure(specs.title)
    years = _floats(rows["year"]).astype("int64")
    fig = go.Figure(
        go.Bar(
            x=years,
            y=_floats(rows["artworks"]),
            width=0.8,
            customdata=_floats(rows["list_value"]),
            marker={"color": PALETTE[2]},
            name=plain_text(specs["artworks"].label),
            hovertemplate="<br>".join(
                [
                    specs.value("year", "x"),
                    specs.hover("artworks", "y"),
                    specs.hover("list_value", "customdata"),
                ]
            )
            + "<extra></extra>",
        )
    )
    first, last = int(years.min()), int(years.max())
    # A few years of context around short spans; whole-year ticks chosen as on the date
    # axes (every year, or every 2, 5, 10... years), so a single year is not labelled
    # "2024" five times at fractional positions and labels never repeat.
    pad = max(1.5, 0.5 + (last - first) * 0.02)
    ticks = year_ticks(first, last)
    fig.update_layout(
        title={"text": plain_text(specs.title)},
        bargap=0.1,
        xaxis={
            "title": specs.heading("year"),
            "type": "linear",
            "tickformat": specs["year"].format,
            "tickmode": "array",
            "tickvals": ticks,
            "ticktext": [specs["year"].show(year) for year in ticks],
            "range": [first - pad, last + pad],
        },
        yaxis={
            "title": specs.heading("artworks"),
            **_count_ticks(specs["artworks"], float(np.nanmax(_floats(rows["artworks"])))),
            "rangemode": "tozero",
        },
    )
    return apply_theme(fig)


def exhibition_attendance(
    frame: pd.DataFrame,
    *,
    columns: Sequence[ColumnSpec],
    title: str,
    currency: str | None = None,
    period: Period | None = None,
) -> go.Figure:
    """Weekly exhibition visitors as a filled line; hover adds how many exhibitions were open.

    Columns (see the panel's specs): ``week`` (datetime64[us], Monday), ``visitors``,
    ``exhibitions_open``. ``currency`` is accepted, like every panel chart's, and unused.
    """
    period = _check_period(period)
    specs, rows = _panel_chart(
        "exhibition_attendance",
        frame,
        columns=columns,
        title=title,
        currency=currency,
        values=["week", "visitors"],
    )
    rows = rows.sort_values("week", kind="stable")
    if rows.empty:
        return no_data_figure(specs.title)
    mondays = _dates(rows["week"])
    sundays = [_days_after(monday, 6) for monday in mondays]
    notes = [_partial_note(m, su, period, "week") for m, su in zip(mondays, sundays, strict=True)]
    partial = [bool(note) for note in notes]
    fig = go.Figure(
        go.Scatter(
            x=pd.to_datetime(rows["week"]).to_numpy(),
            y=_floats(rows["visitors"]),
            customdata=_floats(rows["exhibitions_open"]),
            hovertext=notes,
            mode="lines+markers",
            fill="tozeroy",
            line={"color": PALETTE[4], "width": 2},
            marker={
                "size": [8 if p else 4 for p in partial],
                "symbol": ["circle-open" if p else "circle" for p in partial],
            },
            name=plain_text(specs["visitors"].label),
            hovertemplate="<br>".join(
                [
                    specs.hover("week", "x"),
                    specs.hover("visitors", "y"),
                    specs.hover("exhibitions_open", "customdata"),
                ]
            )
            + "%{hovertext}<extra></extra>",
        )
    )
    ticks = date_ticks(mondays[0], mondays[-1], finest=TickUnit.WEEK)
    fig.update_layout(
        title={"text": plain_text(specs.title)},
        xaxis={
            "title": specs.heading("week"),
            **_date_axis(ticks, map(_iso, ticks.dates), specs["week"]),
        },
        yaxis={
            "title": specs.heading("visitors"),
            **_count_ticks(specs["visitors"], float(np.nanmax(_floats(rows["visitors"])))),
            "rangemode": "tozero",
        },
        # A partial week sits on a grey band labelled "partial": its lower count is the
        # period's cut (a period ending on a Wednesday), not a fall in visitors.
        shapes=[
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": _iso(monday),
                "x1": _iso(dt.datetime.combine(sunday, dt.time.max)),
                "y0": 0,
                "y1": 1,
                "fillcolor": _PARTIAL_FILL,
                "line": {"width": 0},
                "layer": "below",
            }
            for monday, sunday, p in zip(mondays, sundays, partial, strict=True)
            if p
        ],
        annotations=[
            _partial_annotation(
                _iso(dt.datetime.combine(monday, dt.time()) + dt.timedelta(days=3.5)),
                1.0,
                yref="paper",
            )
            for monday, p in zip(mondays, partial, strict=True)
            if p
        ],
    )
    return apply_theme(fig)


def artists_by_nationality_gender(
    frame: pd.DataFrame,
    *,
    columns: Sequence[ColumnSpec],
    title: str,
    currency: str | None = None,
    period: Period | None = None,
) -> go.Figure:
    """Artists per nationality as horizontal bars stacked by gender, largest at the top.

    Columns (see the panel's specs): ``nationality``, ``gender``, ``artists``. Null
    nationality or gender is shown as "Unknown"/"unknown" rather than dropped, so totals
    stay honest. ``currency`` is accepted, like every panel chart's, and unused.
    """
    _check_period(period)  # accepted like every panel chart's; nothing here is by time
    specs, rows = _panel_chart(
        "artists_by_nationality_gender",
        frame,
        columns=columns,
        title=title,
        currency=currency,
        values=["artists"],
    )
    if rows.empty:
        return no_data_figure(specs.title)
    rows = pd.DataFrame(
        {
            "nationality": _labels(rows["nationality"], "Unknown"),
            "gender": _labels(rows["gender"], "unknown"),
            "artists": _floats(rows["artists"]),
        }
    )
    table = rows.pivot_table(
        index="nationality", columns="gender", values="artists", aggfunc="sum", fill_value=0.0
    )
    table = table.loc[table.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    genders = table.sum(axis=0).sort_values(ascending=False, kind="stable").index.tolist()
    nationalities = [str(n) for n in table.index]  # escaped by _labels above
    artists = specs["artists"]
    unit = f" {plain_text(artists.unit)}" if artists.unit else ""
    hover = f"%{{y}}<br>%{{fullData.name}}: {specs.value('artists', 'x')}{unit}<extra></extra>"
    fig = go.Figure()
    for position, gender in enumerate(genders):
        fig.add_trace(
            go.Bar(
                x=table[gender].to_numpy(dtype="float64"),
                y=nationalities,
                orientation="h",
                name=str(gender),
                marker={"color": PALETTE[position % len(PALETTE)]},
                hovertemplate=hover,
            )
        )
    fig.update_layout(
        title={"text": plain_text(specs.title)},
        barmode="stack",
        height=_bar_height(len(nationalities)),
        legend={"title": specs.heading("gender")},
        xaxis={
            "title": specs.heading("artists"),
            **_count_ticks(artists, float(table.sum(axis=1).max())),
        },
        yaxis={
            "title": specs.heading("nationality"),
            "categoryorder": "array",
            "categoryarray": nationalities,
            "autorange": "reversed",
        },
    )
    return apply_theme(fig)


def exhibition_timeline(frame: pd.DataFrame, *, title: str = "Exhibition timeline") -> go.Figure:
    """A Gantt chart: one bar per exhibition from its first to its last day, coloured by city.

    Columns: ``id``, ``title``, ``venue``, ``city`` (string), ``starts_on``, ``ends_on``
    (datetime64[us], ``ends_on`` inclusive). Bars end at ``ends_on`` + 1 day because a bar's
    end is exclusive. Rows are keyed by ``id`` (titles may repeat), earliest at the top.
    """
    reject_awaitable(frame, field="frame")
    rows = _usable_rows(
        frame,
        "exhibition_timeline",
        columns=_TIMELINE_COLUMNS,
        values=["id", "starts_on", "ends_on"],
    )
    rows = rows.sort_values(["starts_on", "ends_on"], kind="stable")
    if rows.empty:
        return no_data_figure(title)
    starts = pd.to_datetime(rows["starts_on"])
    ends = pd.to_datetime(rows["ends_on"]) + pd.Timedelta(days=1)
    shown = pd.DataFrame(
        {
            "id": _labels(rows["id"], ""),
            "title": _labels(rows["title"], "Untitled"),
            "venue": _labels(rows["venue"], "unknown venue"),
            "city": _labels(rows["city"], "Unknown"),
            "start": starts.dt.strftime("%Y-%m-%d").to_numpy(),
            "last_day": pd.to_datetime(rows["ends_on"]).dt.strftime("%Y-%m-%d").to_numpy(),
            "duration_ms": ((ends - starts) / pd.Timedelta(milliseconds=1)).to_numpy(),
        }
    )
    fig = go.Figure()
    for position, city in enumerate(sorted(set(shown["city"]))):
        part = shown[shown["city"] == city]
        fig.add_trace(
            go.Bar(
                base=part["start"].tolist(),
                x=part["duration_ms"].to_numpy(dtype="float64"),
                y=part["id"].tolist(),
                orientation="h",
                name=city,
                marker={"color": PALETTE[position % len(PALETTE)]},
                customdata=part[["title", "venue", "start", "last_day"]].to_numpy(dtype=object),
                hovertemplate=(
                    "<b>%{customdata[0]}</b><br>%{customdata[1]}, %{fullData.name}<br>"
                    "%{customdata[2]} to %{customdata[3]}<extra></extra>"
                ),
            )
        )
    ids = shown["id"].tolist()
    first_day, last_day = _dates(rows["starts_on"]), _dates(rows["ends_on"])
    ticks = date_ticks(min(first_day), max(last_day))
    fig.update_layout(
        title={"text": plain_text(title)},
        barmode="overlay",
        height=_bar_height(len(ids)),
        legend={"title": {"text": "City"}},
        xaxis={"title": {"text": "Date"}, **_date_axis(ticks, map(_iso, ticks.dates))},
        yaxis={
            "title": {"text": "Exhibition"},
            "categoryorder": "array",
            "categoryarray": ids,
            "tickmode": "array",
            "tickvals": ids,
            "ticktext": shown["title"].tolist(),
            "autorange": "reversed",
        },
    )
    return apply_theme(fig)
