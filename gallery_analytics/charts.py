"""Plotly figures for the gallery dashboard, built from the analytics frames.

Every function is pure: it takes a pandas DataFrame (schemas in each docstring), returns a
themed ``go.Figure`` and never mutates its input. Empty frames, or frames whose value column
is entirely null, yield a "no data" figure instead of an error so a dashboard with tight
filters still renders. Importing this module only registers the ``"gallery"`` plotly
template; it does not change ``plotly.io.templates.default``.

A dashboard panel's chart has the panel's name (``monthly_revenue`` draws the
``monthly_revenue`` panel): the panel registry (:mod:`gallery_analytics.panels`) finds it
by that name and passes the panel's title, so this module knows nothing of panels,
queries or services.
"""

from __future__ import annotations

import contextlib
import contextvars
import html
import re
from collections.abc import Iterator, Sequence
from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]

from gallery_analytics.errors import ValidationError

__all__ = [
    "NO_DATA_MESSAGE",
    "PALETTE",
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
STATUS_COLOURS: Final[dict[str, str]] = {
    "available": "#009E73",
    "reserved": "#E69F00",
    "sold": "#0072B2",
    "on_loan": "#CC79A7",
}
TEMPLATE_NAME: Final = "gallery"
NO_DATA_MESSAGE: Final = "No data for the current filters"

# Columns each chart function reads; checked up front for a clear error message.
_SCHEMAS: Final[dict[str, tuple[str, ...]]] = {
    "monthly_revenue": ("month", "sales", "revenue", "average_price"),
    "top_artists": ("rank", "artist_id", "artist", "nationality", "sales", "revenue", "share"),
    "artworks_by_medium_status": ("medium", "status", "artworks", "list_value"),
    "acquisitions_per_year": ("year", "artworks", "list_value"),
    "exhibition_attendance": ("week", "visitors", "exhibitions_open"),
    "artists_by_nationality_gender": ("nationality", "gender", "artists"),
    "exhibition_timeline": ("id", "title", "venue", "city", "starts_on", "ends_on"),
}
_NEUTRAL: Final = "#BBBBBB"  # statuses outside STATUS_COLOURS, medium tiles in the treemap
_ROW_HEIGHT: Final = 26  # pixels per bar in horizontal bar charts with one row per category


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


def _currency(currency: object) -> str:
    """A currency code goes into labels and hover templates: three capital letters only."""
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValidationError("currency", "expected a currency code such as EUR", value=currency)
    return currency


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


def _usable_rows(frame: pd.DataFrame, chart: str, *, values: Sequence[str]) -> pd.DataFrame:
    """Rows of ``frame`` with no null in ``values``; fail clearly if a column of the chart's
    schema is missing, rather than with a bare KeyError deep inside plotting."""
    missing = [column for column in _SCHEMAS[chart] if column not in frame.columns]
    if missing:
        raise ValidationError(
            f"frame.{missing[0]}",
            f"{chart} needs column(s) {', '.join(missing)}; the frame has "
            f"{', '.join(map(str, frame.columns)) or 'no columns'}",
        )
    return frame.dropna(subset=list(values))


def _floats(series: pd.Series) -> np.ndarray:
    """Numeric column as a float array, nulls as NaN (works for nullable dtypes too)."""
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _labels(series: pd.Series, missing: str) -> list[str]:
    """String/categorical column as escaped text (see plain_text), nulls as ``missing``."""
    return [plain_text(missing if pd.isna(value) else value) for value in series.tolist()]


def _bar_height(rows: int) -> int:
    """Figure height that keeps one-row-per-category bar charts readable."""
    return max(400, 160 + _ROW_HEIGHT * rows)


def monthly_revenue(
    frame: pd.DataFrame, *, currency: str = "EUR", title: str = "Revenue by month"
) -> go.Figure:
    """Monthly revenue as bars; hover adds the number of sales and the average price.

    Columns: ``month`` (datetime64[us, UTC], start of month), ``sales`` (int64), ``revenue``
    and ``average_price`` (float64). Months are shown in UTC since plotly axes have no zone.
    """
    currency = _currency(currency)
    rows = _usable_rows(frame, "monthly_revenue", values=["month", "revenue"])
    rows = rows.sort_values("month", kind="stable")
    if rows.empty:
        return no_data_figure(title)
    months = pd.to_datetime(rows["month"], utc=True).dt.tz_localize(None)
    fig = go.Figure(
        go.Bar(
            x=months.to_numpy(),
            y=_floats(rows["revenue"]),
            customdata=np.column_stack([_floats(rows["sales"]), _floats(rows["average_price"])]),
            xperiod="M1",
            xperiodalignment="middle",
            marker={"color": PALETTE[4]},
            name="Revenue",
            hovertemplate=(
                "%{x|%B %Y}<br>"
                f"Revenue: %{{y:,.2f}} {currency}<br>"
                "Sales: %{customdata[0]:,.0f}<br>"
                f"Average price: %{{customdata[1]:,.2f}} {currency}<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title={"text": plain_text(title)},
        xaxis={"title": {"text": "Month"}, "tickformat": "%b %Y"},
        yaxis={"title": {"text": f"Revenue ({currency})"}, "rangemode": "tozero"},
    )
    return apply_theme(fig)


def top_artists(
    frame: pd.DataFrame, *, currency: str = "EUR", title: str = "Top artists by revenue"
) -> go.Figure:
    """Artists by revenue as horizontal bars, rank 1 at the top, labelled with revenue share.

    Columns: ``rank``, ``sales`` (int64), ``artist_id``, ``artist``, ``nationality`` (string,
    may be NA), ``revenue``, ``share`` (float64, 0..1). Bars are keyed by ``artist_id`` so two
    artists with the same name keep separate bars.
    """
    currency = _currency(currency)
    rows = _usable_rows(frame, "top_artists", values=["artist_id", "revenue"])
    rows = rows.sort_values(["rank", "revenue"], ascending=[True, False], kind="stable")
    if rows.empty:
        return no_data_figure(title)
    ids = _labels(rows["artist_id"], "")
    names = _labels(rows["artist"], "Unknown artist")
    shares = _floats(rows["share"])
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
            orientation="h",
            marker={"color": PALETTE[4]},
            text=["" if np.isnan(share) else f"{share:.1%}" for share in shares],
            textposition="auto",
            customdata=customdata,
            name="Revenue",
            hovertemplate=(
                "<b>%{customdata[0]}</b> (%{customdata[1]})<br>"
                f"Revenue: %{{x:,.2f}} {currency}<br>"
                "Sales: %{customdata[2]}<br>"
                "Share of revenue: %{customdata[3]:.1%}<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title={"text": plain_text(title)},
        height=_bar_height(len(ids)),
        xaxis={"title": {"text": f"Revenue ({currency})"}, "rangemode": "tozero"},
        yaxis={
            "title": {"text": "Artist"},
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
    currency: str = "EUR",
    title: str = "Artworks by medium and status (count)",
) -> go.Figure:
    """Artworks as a treemap, medium tiles split by status, sized by artwork count.

    Columns: ``medium`` (string, already top N + "Other"), ``status`` (Categorical),
    ``artworks`` (int64), ``list_value`` (float64). Status tiles use ``STATUS_COLOURS``;
    the root tile "All artworks" carries the total.
    """
    currency = _currency(currency)
    rows = _usable_rows(frame, "artworks_by_medium_status", values=["artworks"])
    rows = rows.assign(
        medium=_labels(rows["medium"], "Unknown"),
        status=_labels(rows["status"], "unknown"),
        artworks=_floats(rows["artworks"]),
        list_value=_floats(rows["list_value"]),
    )
    rows = rows[rows["artworks"] > 0]
    if rows.empty:
        return no_data_figure(title)
    leaves = rows.groupby(["medium", "status"], as_index=False, sort=True)[
        ["artworks", "list_value"]
    ].sum()
    media = leaves.groupby("medium", as_index=False, sort=False)[["artworks", "list_value"]].sum()
    media = media.sort_values("artworks", ascending=False, kind="stable")
    # Positional ids: medium names are free text and could collide with any separator.
    medium_ids = {name: f"m{i}" for i, name in enumerate(media["medium"])}
    leaf_parents = [medium_ids[name] for name in leaves["medium"]]
    statuses = leaves["status"].tolist()
    fig = go.Figure(
        go.Treemap(
            ids=["all", *medium_ids.values(), *(f"{p}s{i}" for i, p in enumerate(leaf_parents))],
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
                    *(STATUS_COLOURS.get(status, _NEUTRAL) for status in statuses),
                ]
            },
            texttemplate="%{label}<br>%{value:,.0f}",
            hovertemplate=(
                "<b>%{label}</b><br>Artworks: %{value:,.0f}<br>"
                f"List value: %{{customdata:,.0f}} {currency}<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title={"text": plain_text(title)}, margin={"t": 80, "l": 10, "r": 10, "b": 10}
    )
    return apply_theme(fig)


def acquisitions_per_year(
    frame: pd.DataFrame, *, currency: str = "EUR", title: str = "Acquisitions per year"
) -> go.Figure:
    """Artworks acquired per year as bars on a numeric year axis, so gaps stay visible.

    Columns: ``year`` (int64), ``artworks`` (int64), ``list_value`` (float64). Bar width is
    fixed to under a year: plotly would otherwise widen bars to the smallest gap between
    years, making sparse centuries unreadable.
    """
    currency = _currency(currency)
    rows = _usable_rows(frame, "acquisitions_per_year", values=["year", "artworks"])
    rows = rows.sort_values("year", kind="stable")
    if rows.empty:
        return no_data_figure(title)
    years = _floats(rows["year"]).astype("int64")
    fig = go.Figure(
        go.Bar(
            x=years,
            y=_floats(rows["artworks"]),
            width=0.8,
            customdata=_floats(rows["list_value"]),
            marker={"color": PALETTE[2]},
            name="Artworks",
            hovertemplate=(
                "%{x}<br>Artworks: %{y:,.0f}<br>"
                f"List value: %{{customdata:,.0f}} {currency}<extra></extra>"
            ),
        )
    )
    first, last = int(years.min()), int(years.max())
    # A few years of context around short spans, and whole-year ticks so a single year
    # is not labelled "2024" five times at fractional positions.
    pad = max(1.5, 0.5 + (last - first) * 0.02)
    fig.update_layout(
        title={"text": plain_text(title)},
        bargap=0.1,
        xaxis={
            "title": {"text": "Year acquired"},
            "type": "linear",
            "tickformat": "d",
            "dtick": 1 if last - first <= 12 else None,
            "range": [first - pad, last + pad],
        },
        yaxis={"title": {"text": "Artworks (count)"}, "rangemode": "tozero"},
    )
    return apply_theme(fig)


def exhibition_attendance(
    frame: pd.DataFrame, *, title: str = "Exhibition attendance"
) -> go.Figure:
    """Weekly exhibition visitors as a filled line; hover adds how many exhibitions were open.

    Columns: ``week`` (datetime64[us], Monday), ``visitors``, ``exhibitions_open`` (int64).
    """
    rows = _usable_rows(frame, "exhibition_attendance", values=["week", "visitors"])
    rows = rows.sort_values("week", kind="stable")
    if rows.empty:
        return no_data_figure(title)
    fig = go.Figure(
        go.Scatter(
            x=pd.to_datetime(rows["week"]).to_numpy(),
            y=_floats(rows["visitors"]),
            customdata=_floats(rows["exhibitions_open"]),
            mode="lines+markers",
            fill="tozeroy",
            line={"color": PALETTE[4], "width": 2},
            marker={"size": 4},
            name="Visitors",
            hovertemplate=(
                "Week of %{x|%d %b %Y}<br>Visitors: %{y:,.0f}<br>"
                "Exhibitions open: %{customdata:,.0f}<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title={"text": plain_text(title)},
        xaxis={"title": {"text": "Week (starting Monday)"}},
        yaxis={"title": {"text": "Visitors per week"}, "rangemode": "tozero"},
    )
    return apply_theme(fig)


def artists_by_nationality_gender(
    frame: pd.DataFrame, *, title: str = "Artists by nationality and gender"
) -> go.Figure:
    """Artists per nationality as horizontal bars stacked by gender, largest at the top.

    Columns: ``nationality``, ``gender`` (string), ``artists`` (int64). Null nationality or
    gender is shown as "Unknown"/"unknown" rather than dropped, so totals stay honest.
    """
    rows = _usable_rows(frame, "artists_by_nationality_gender", values=["artists"])
    if rows.empty:
        return no_data_figure(title)
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
    fig = go.Figure()
    for position, gender in enumerate(genders):
        fig.add_trace(
            go.Bar(
                x=table[gender].to_numpy(dtype="float64"),
                y=nationalities,
                orientation="h",
                name=str(gender),
                marker={"color": PALETTE[position % len(PALETTE)]},
                hovertemplate="%{y}<br>%{fullData.name}: %{x:,.0f} artists<extra></extra>",
            )
        )
    fig.update_layout(
        title={"text": plain_text(title)},
        barmode="stack",
        height=_bar_height(len(nationalities)),
        legend={"title": {"text": "Gender"}},
        xaxis={"title": {"text": "Artists (count)"}},
        yaxis={
            "title": {"text": "Nationality"},
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
    rows = _usable_rows(frame, "exhibition_timeline", values=["id", "starts_on", "ends_on"])
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
    fig.update_layout(
        title={"text": plain_text(title)},
        barmode="overlay",
        height=_bar_height(len(ids)),
        legend={"title": {"text": "City"}},
        xaxis={"title": {"text": "Date"}, "type": "date"},
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
