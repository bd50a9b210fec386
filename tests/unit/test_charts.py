"""Chart builders: themed figures whose traces carry exactly the input data.

Frames are built by hand with the dtypes the analytics queries produce (pyarrow strings,
Categorical status, tz-aware months, naive dates), so no database is needed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gallery_analytics import charts as chart_functions
from gallery_analytics import panels
from gallery_analytics.domain import columns as column_specs
from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.errors import ValidationError
from tests.unit.fresh_interpreters import outcome


class _ChartsAsTheRegistryCallsThem:
    """``charts`` for these tests: a panel's chart function gets its panel's title and
    column specs, as ``Panel.chart`` passes them (charts never look a panel up)."""

    def __getattr__(self, name: str) -> object:
        function = getattr(chart_functions, name)
        if name not in {declared.name for declared in panels.PANELS}:
            return function
        declared = panels.panel(name)
        defaults = {"columns": declared.columns, "title": declared.title}

        @functools.wraps(function)
        def with_the_declaration(frame: pd.DataFrame, **options: object) -> go.Figure:
            return function(frame, **{**defaults, **options})

        return with_the_declaration


charts = _ChartsAsTheRegistryCallsThem()

STRING = pd.StringDtype("pyarrow")
STATUSES = ["available", "reserved", "sold", "on_loan"]


def strings(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype=STRING)


def dates(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values))).astype("datetime64[us]")


def revenue_frame() -> pd.DataFrame:
    months = pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"], utc=True))
    return pd.DataFrame(
        {
            "month": months.astype("datetime64[us, UTC]"),
            "sales": np.array([3, 0, 2], dtype="int64"),
            "revenue": np.array([1500.0, 0.0, 820.5]),
            "average_price": np.array([500.0, np.nan, 410.25]),
        }
    )


def top_artists_frame() -> pd.DataFrame:
    # Deliberately out of rank order, with a repeated name and a missing nationality.
    return pd.DataFrame(
        {
            "rank": np.array([2, 1, 3], dtype="int64"),
            "artist_id": strings("b", "a", "c"),
            "artist": strings("Anonymous", "Berthe Morisot", "Anonymous"),
            "nationality": strings(None, "FR", "NL"),
            "sales": np.array([4, 6, 1], dtype="int64"),
            "revenue": np.array([300.0, 600.0, 100.0]),
            "share": np.array([0.3, 0.6, 0.1]),
        }
    )


def treemap_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "medium": strings("Oil", "Oil", "Bronze", "Other", "Other"),
            "status": pd.Categorical(
                ["available", "sold", "on_loan", "reserved", "sold"], categories=STATUSES
            ),
            "artworks": np.array([4, 3, 2, 1, 5], dtype="int64"),
            "list_value": np.array([4000.0, 0.0, 1200.0, 50.0, 0.0]),
        }
    )


def acquisitions_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "year": np.array([1820, 1821, 1899, 1990, 2025], dtype="int64"),
            "artworks": np.array([1, 2, 1, 7, 3], dtype="int64"),
            "list_value": np.array([10.0, 20.0, 5.0, 70.0, 30.0]),
        }
    )


def attendance_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "week": dates("2024-01-01", "2024-01-08", "2024-01-22"),
            "visitors": np.array([120, 80, 200], dtype="int64"),
            "exhibitions_open": np.array([1, 1, 2], dtype="int64"),
        }
    )


def nationality_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "nationality": strings("FR", "FR", "DE", "NL", "NL"),
            "gender": strings("female", "male", "female", "male", "non-binary"),
            "artists": np.array([2, 3, 4, 10, 1], dtype="int64"),
        }
    )


def timeline_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": strings("e2", "e1", "e3"),
            "title": strings("Spring Show", "Spring Show", "Bronzes"),
            "venue": strings("Hall B", "Hall A", None),
            "city": strings("Paris", "Berlin", "Paris"),
            "starts_on": dates("2024-03-01", "2023-03-01", "2024-06-15"),
            "ends_on": dates("2024-03-31", "2023-04-30", "2024-06-15"),
        }
    )


def axis_title(fig: go.Figure, axis: str) -> str:
    return str(fig.layout[axis].title.text)


def assert_themed(fig: go.Figure, title: str) -> None:
    assert isinstance(fig, go.Figure)
    assert fig.layout.template == pio.templates[charts.TEMPLATE_NAME]
    assert list(fig.layout.template.layout.colorway) == list(charts.PALETTE)
    assert fig.layout.title.text == title


def assert_no_data(fig: go.Figure, title: str) -> None:
    assert_themed(fig, title)
    assert len(fig.data) == 0
    assert [a.text for a in fig.layout.annotations] == [charts.NO_DATA_MESSAGE]
    assert fig.layout.xaxis.visible is False
    assert fig.layout.yaxis.visible is False


# --- theme ---------------------------------------------------------------------------------


def test_template_is_registered_with_okabe_ito_colorway() -> None:
    template = pio.templates["gallery"]
    assert list(template.layout.colorway) == list(charts.PALETTE)
    assert charts.PALETTE[:3] == ("#E69F00", "#56B4E9", "#009E73")
    assert set(charts.STATUS_COLOURS) == set(STATUSES)
    assert set(charts.STATUS_COLOURS.values()) <= set(charts.PALETTE)


def test_status_colours_are_keyed_by_the_status_enum() -> None:
    """One colour per ArtworkStatus member (keyed by plain strings before: a renamed or
    added status would silently go grey)."""
    assert list(charts.STATUS_COLOURS) == list(ArtworkStatus)
    assert all(type(status) is ArtworkStatus for status in charts.STATUS_COLOURS)


def test_importing_does_not_change_the_default_template() -> None:
    """In a fresh interpreter (tests/unit/fresh_interpreters.py): importing the charts
    registers the "gallery" template but leaves plotly's default alone."""
    unchanged, registered = outcome("charts_template")
    assert unchanged is True
    assert registered is True


def test_apply_theme_sets_template_in_place() -> None:
    fig = go.Figure(go.Bar(x=[1], y=[2]))
    assert charts.apply_theme(fig) is fig
    assert fig.layout.template == pio.templates["gallery"]


def test_no_data_figure_has_centred_message_and_hidden_axes() -> None:
    fig = charts.no_data_figure("Sales", message="Nothing here")
    assert_themed(fig, "Sales")
    assert len(fig.data) == 0
    (note,) = fig.layout.annotations
    assert (note.text, note.x, note.y, note.xref, note.yref) == (
        "Nothing here",
        0.5,
        0.5,
        "paper",
        "paper",
    )
    assert note.showarrow is False
    assert fig.layout.xaxis.visible is False
    assert fig.layout.yaxis.visible is False
    assert charts.no_data_figure("Sales").layout.annotations[0].text == charts.NO_DATA_MESSAGE


# --- charts with data ----------------------------------------------------------------------


def test_monthly_revenue() -> None:
    frame = revenue_frame()
    before = frame.copy()
    fig = charts.monthly_revenue(frame, currency="USD")
    assert_themed(fig, "Revenue by month")
    pd.testing.assert_frame_equal(frame, before)  # input untouched
    (bars,) = fig.data
    assert bars.type == "bar"
    assert list(pd.to_datetime(bars.x)) == list(
        pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
    )
    np.testing.assert_array_equal(bars.y, frame["revenue"].to_numpy())
    np.testing.assert_array_equal(np.asarray(bars.customdata)[:, 0], [3, 0, 2])
    assert "customdata[0]" in bars.hovertemplate  # sales count in the hover
    assert axis_title(fig, "yaxis") == "Revenue (USD)"
    assert axis_title(fig, "xaxis") == "Month"
    assert axis_title(charts.monthly_revenue(frame), "yaxis") == "Revenue (EUR)"


def test_monthly_revenue_sorts_months() -> None:
    frame = revenue_frame().iloc[::-1]
    fig = charts.monthly_revenue(frame)
    np.testing.assert_array_equal(fig.data[0].y, [1500.0, 0.0, 820.5])


def test_top_artists_best_first_and_separate_bars_for_same_name() -> None:
    fig = charts.top_artists(top_artists_frame())
    assert_themed(fig, "Top artists by revenue")
    (bars,) = fig.data
    assert bars.orientation == "h"
    assert list(bars.y) == ["a", "b", "c"]  # rank order, keyed by artist_id
    np.testing.assert_array_equal(bars.x, [600.0, 300.0, 100.0])
    assert fig.layout.yaxis.autorange == "reversed"  # first category drawn at the top
    assert list(fig.layout.yaxis.categoryarray) == ["a", "b", "c"]
    assert list(fig.layout.yaxis.ticktext) == ["Berthe Morisot", "Anonymous", "Anonymous"]
    assert list(bars.text) == ["60.0%", "30.0%", "10.0%"]
    assert [row[1] for row in bars.customdata] == ["FR", "unknown", "NL"]
    assert axis_title(fig, "xaxis") == "Revenue (EUR)"


def test_artworks_by_medium_status() -> None:
    frame = treemap_frame()
    fig = charts.artworks_by_medium_status(frame)
    assert_themed(fig, "Artworks by medium and status (count)")
    (tree,) = fig.data
    assert tree.type == "treemap"
    assert tree.branchvalues == "total"
    ids, parents, values = list(tree.ids), list(tree.parents), list(tree.values)
    labels, colours = list(tree.labels), list(tree.marker.colors)
    total = int(frame["artworks"].sum())
    leaves = [i for i, node in enumerate(ids) if node not in parents]
    assert sum(values[i] for i in leaves) == total
    assert values[parents.index("")] == total  # the single root carries the total
    # Each medium tile is the sum of its status tiles.
    for i, node in enumerate(ids):
        children = [values[j] for j, parent in enumerate(parents) if parent == node]
        if children:
            assert values[i] == sum(children)
    medium_totals = {labels[i]: values[i] for i, p in enumerate(parents) if p == ids[0]}
    assert medium_totals == {"Oil": 7, "Bronze": 2, "Other": 6}
    for i in leaves:
        assert colours[i] == charts.STATUS_COLOURS[labels[i]]
    assert {labels[i] for i in leaves} == set(STATUSES)


def test_artworks_by_medium_status_aggregates_duplicates_and_skips_zero_rows() -> None:
    frame = pd.concat([treemap_frame(), treemap_frame().iloc[:1]], ignore_index=True)
    frame.loc[2, "artworks"] = 0  # Bronze/on_loan disappears
    fig = charts.artworks_by_medium_status(frame)
    (tree,) = fig.data
    label_of = dict(zip(tree.ids, tree.labels, strict=True))
    has_children = set(tree.parents)
    leaves = {
        (label_of[parent], label): value
        for node, parent, label, value in zip(
            tree.ids, tree.parents, tree.labels, tree.values, strict=True
        )
        if node not in has_children
    }
    assert leaves == {
        ("Oil", "available"): 8,
        ("Oil", "sold"): 3,
        ("Other", "reserved"): 1,
        ("Other", "sold"): 5,
    }


def test_acquisitions_per_year_across_two_centuries() -> None:
    frame = acquisitions_frame()
    fig = charts.acquisitions_per_year(frame)
    assert_themed(fig, "Acquisitions per year")
    (bars,) = fig.data
    np.testing.assert_array_equal(bars.x, frame["year"].to_numpy())
    np.testing.assert_array_equal(bars.y, frame["artworks"].to_numpy())
    assert bars.width == pytest.approx(0.8)  # not widened to the smallest gap between years
    assert fig.layout.xaxis.type == "linear"  # gaps between years stay proportional
    assert fig.layout.xaxis.tickformat == "d"  # "1820", not "1.82k"
    low, high = fig.layout.xaxis.range
    assert low < 1820 < 2025 < high
    assert axis_title(fig, "xaxis") == "Year acquired"
    assert axis_title(fig, "yaxis") == "Artworks"  # the spec's heading (its label names the unit)


def test_exhibition_attendance() -> None:
    frame = attendance_frame()
    fig = charts.exhibition_attendance(frame)
    assert_themed(fig, "Exhibition attendance")
    (line,) = fig.data
    assert line.type == "scatter"
    assert list(pd.to_datetime(line.x)) == list(frame["week"])
    np.testing.assert_array_equal(line.y, [120, 80, 200])
    np.testing.assert_array_equal(line.customdata, [1, 1, 2])
    assert axis_title(fig, "yaxis") == "Visitors per week"
    assert "Week" in axis_title(fig, "xaxis")


def test_artists_by_nationality_gender_stacked_and_ordered_by_total() -> None:
    fig = charts.artists_by_nationality_gender(nationality_frame())
    assert_themed(fig, "Artists by nationality and gender")
    assert fig.layout.barmode == "stack"
    order = ["NL", "FR", "DE"]  # totals 11, 5, 4
    assert list(fig.layout.yaxis.categoryarray) == order
    assert fig.layout.yaxis.autorange == "reversed"
    by_gender = {bar.name: dict(zip(bar.y, bar.x, strict=True)) for bar in fig.data}
    assert set(by_gender) == {"female", "male", "non-binary"}
    assert all(bar.orientation == "h" for bar in fig.data)
    assert by_gender["female"] == {"NL": 0, "FR": 2, "DE": 4}
    assert by_gender["male"] == {"NL": 10, "FR": 3, "DE": 0}
    assert by_gender["non-binary"] == {"NL": 1, "FR": 0, "DE": 0}
    assert axis_title(fig, "xaxis") == "Artists"
    assert axis_title(fig, "yaxis") == "Nationality"


def test_exhibition_timeline_end_is_last_day_plus_one() -> None:
    frame = timeline_frame()
    fig = charts.exhibition_timeline(frame)
    assert_themed(fig, "Exhibition timeline")
    assert {bar.name for bar in fig.data} == {"Berlin", "Paris"}
    assert len({bar.marker.color for bar in fig.data}) == 2
    expected = frame.set_index("id")
    seen = []
    for bar in fig.data:
        starts = pd.to_datetime(list(bar.base))
        ends = starts + pd.to_timedelta(np.asarray(bar.x, dtype="float64"), unit="ms")
        for exhibition, start, end in zip(bar.y, starts, ends, strict=True):
            seen.append(exhibition)
            assert expected.loc[exhibition, "city"] == bar.name
            assert start == expected.loc[exhibition, "starts_on"]
            assert end == expected.loc[exhibition, "ends_on"] + pd.Timedelta(days=1)
    assert sorted(seen) == ["e1", "e2", "e3"]
    assert fig.layout.xaxis.type == "date"
    assert list(fig.layout.yaxis.categoryarray) == ["e1", "e2", "e3"]  # by start date
    assert list(fig.layout.yaxis.ticktext) == ["Spring Show", "Spring Show", "Bronzes"]
    assert axis_title(fig, "xaxis") == "Date"


def test_missing_column_is_the_projects_validation_error_naming_it() -> None:
    """A bare ValueError before: not catchable as the project's errors, no field."""
    with pytest.raises(charts.ValidationError) as caught:
        charts.monthly_revenue(revenue_frame().drop(columns=["revenue"]))
    assert caught.value.field == "frame.revenue"
    assert "monthly_revenue needs column(s) revenue" in str(caught.value)
    assert "month, sales, average_price" in str(caught.value)  # what the frame has


def test_title_is_the_callers_and_shown_literally() -> None:
    fig = charts.monthly_revenue(revenue_frame(), title="Sales <b>2024</b>")
    assert fig.layout.title.text == "Sales &lt;b&gt;2024&lt;/b&gt;"
    assert_no_data(charts.exhibition_attendance(attendance_frame().iloc[:0], title="X"), "X")


# --- no data -------------------------------------------------------------------------------

ChartFn = Callable[[pd.DataFrame], go.Figure]

CASES: list[tuple[ChartFn, Callable[[], pd.DataFrame], str, str]] = [
    (charts.monthly_revenue, revenue_frame, "revenue", "Revenue by month"),
    (charts.top_artists, top_artists_frame, "revenue", "Top artists by revenue"),
    (
        charts.artworks_by_medium_status,
        treemap_frame,
        "artworks",
        "Artworks by medium and status (count)",
    ),
    (charts.acquisitions_per_year, acquisitions_frame, "artworks", "Acquisitions per year"),
    (charts.exhibition_attendance, attendance_frame, "visitors", "Exhibition attendance"),
    (
        charts.artists_by_nationality_gender,
        nationality_frame,
        "artists",
        "Artists by nationality and gender",
    ),
    (charts.exhibition_timeline, timeline_frame, "starts_on", "Exhibition timeline"),
]
CASE_IDS = [case[0].__name__ for case in CASES]


@pytest.mark.parametrize(("chart", "make_frame", "value", "title"), CASES, ids=CASE_IDS)
def test_empty_frame_gives_no_data_figure(
    chart: ChartFn, make_frame: Callable[[], pd.DataFrame], value: str, title: str
) -> None:
    empty = make_frame().iloc[:0]
    assert len(empty.columns) > 0
    assert_no_data(chart(empty), title)


@pytest.mark.parametrize(("chart", "make_frame", "value", "title"), CASES, ids=CASE_IDS)
def test_all_null_values_give_no_data_figure(
    chart: ChartFn, make_frame: Callable[[], pd.DataFrame], value: str, title: str
) -> None:
    frame = make_frame()
    column = frame[value]
    if pd.api.types.is_datetime64_any_dtype(column):
        frame[value] = pd.Series(pd.NaT, index=frame.index, dtype=column.dtype)
    elif pd.api.types.is_integer_dtype(column):
        frame[value] = pd.array([pd.NA] * len(frame), dtype="Int64")  # int64 cannot hold NA
    else:
        frame[value] = np.nan
    assert frame[value].isna().all()
    assert_no_data(chart(frame), title)


def test_treemap_with_only_zero_counts_is_no_data() -> None:
    frame = treemap_frame().assign(artworks=0)
    assert_no_data(charts.artworks_by_medium_status(frame), "Artworks by medium and status (count)")


# -- free text is shown literally, never as markup; no cloud button ----------------------------

HOSTILE = [
    "<img src=x onerror=alert(document.domain)>",
    '<a href="javascript:alert(1)">click</a>',
    "<b>bold</b> & <br>co",
    "%{customdata[0]}",
]


def _hostile(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """Every free-text column of ``frame`` replaced by ``text`` (status stays an enum)."""
    changed = frame.copy()
    for column in changed.columns:
        if column != "status" and isinstance(changed[column].dtype, pd.StringDtype):
            changed[column] = pd.Series([text] * len(changed), dtype=STRING, index=changed.index)
    return changed


def _strings(value: object, key: str = "") -> list[tuple[str, str]]:
    """Every (key, string) in a figure's JSON, except the templates we write ourselves."""
    if key in {"hovertemplate", "texttemplate", "template"}:
        return []
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _strings(v, k)]
    if isinstance(value, list | tuple | np.ndarray):
        return [pair for item in value for pair in _strings(item, key)]
    return []


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize(
    ("build", "frame"),
    [
        (charts.top_artists, top_artists_frame),
        (charts.artworks_by_medium_status, treemap_frame),
        (charts.artists_by_nationality_gender, nationality_frame),
        (charts.exhibition_timeline, timeline_frame),
    ],
    ids=["top_artists", "treemap", "nationality_gender", "timeline"],
)
def test_free_text_is_escaped_for_plotly(
    build: Callable[[pd.DataFrame], go.Figure], frame: Callable[[], pd.DataFrame], text: str
) -> None:
    fig = build(_hostile(frame(), text))
    shown = _strings(fig.to_plotly_json())
    assert any(value == charts.plain_text(text) for _, value in shown), shown
    for key, value in shown:
        assert "<" not in value or key in {"id", "ids"}, (key, value)
    for trace in fig.data:  # our templates only read (escaped) values, never embed them
        template = getattr(trace, "hovertemplate", None) or ""
        assert "<" not in text or charts.plain_text(text) not in template


@pytest.mark.parametrize("text", HOSTILE)
def test_no_data_figure_escapes_title_and_message(text: str) -> None:
    fig = charts.no_data_figure(text, f"Panel failed: {text}")
    assert fig.layout.title.text == charts.plain_text(text)
    assert "<" not in fig.layout.annotations[0].text


@pytest.mark.parametrize("currency", ["eur", "%{x}", "<b>", "EURO", ""])
def test_currency_must_be_a_code(currency: str) -> None:
    with pytest.raises(charts.ValidationError, match=r"^currency: "):
        charts.monthly_revenue(revenue_frame(), currency=currency)


@pytest.mark.parametrize("code", ["EUR", "USD", "eur", "EURO", "EUR\n", "ÉUR", "", "%{x}"])
def test_a_currency_code_has_one_definition(code: str) -> None:
    """Filters, money column units and charts accept the same codes: all use the domain's
    CurrencyCode (three checks, written three ways, before)."""
    from gallery_analytics.domain.values import CurrencyCode, is_currency_code

    assert CurrencyCode is not None
    assert not hasattr(charts, "_currency")
    assert not hasattr(column_specs, "_is_currency_code")
    valid = is_currency_code(code)
    assert valid == (code in {"EUR", "USD"})
    try:
        OverviewFilters(currency=code)
    except ValidationError:
        in_filters = False
    else:
        in_filters = True
    try:
        charts.monthly_revenue(revenue_frame(), currency=code)
    except ValidationError:
        in_charts = False
    else:
        in_charts = True
    money = ColumnSpec("revenue", Kind.FLOAT, unit=code).is_money
    assert in_filters == in_charts == money == valid


def test_no_renderer_offers_the_cloud_share_button() -> None:
    html = pio.to_html(charts.monthly_revenue(revenue_frame()), config=charts.PLOTLY_CONFIG)
    assert '"showSendToCloud": false' in html
    for name in ("plotly_mimetype", "jupyterlab", "notebook", "notebook_connected"):
        config = pio.renderers[name].config
        assert config["showSendToCloud"] is False, name
        assert "sendChartToCloud" in config["modeBarButtonsToRemove"], name


# --- time axes: ticks chosen from the span, labels distinct and in order (issue 12 #7) ------


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FIRST_DAY, LAST_DAY = dt.date(1, 1, 1), dt.date(9999, 12, 30)


def read_label(label: str) -> dt.date:
    """A tick label back as the first day it names ("07 Oct 2024", "Oct 2024", "2024")."""
    parts = label.split()
    if len(parts) == 1:
        return dt.date(int(parts[0]), 1, 1)
    if len(parts) == 2:
        return dt.date(int(parts[1]), MONTHS.index(parts[0]) + 1, 1)
    return dt.date(int(parts[2]), MONTHS.index(parts[1]) + 1, int(parts[0]))


def assert_readable(labels: list[str]) -> None:
    """What a reader needs of a time axis: a few labels, none repeated, in time order."""
    assert 1 <= len(labels) <= chart_functions.MAX_TICKS, labels
    assert len(set(labels)) == len(labels), labels
    read = [read_label(label) for label in labels]
    assert read == sorted(read), labels


def spans(*, finest: chart_functions.TickUnit) -> st.SearchStrategy[tuple[dt.date, dt.date]]:
    """A first and last date of data of the ``finest`` period (first day of a month, a
    Monday, any day) spanning one period to the whole calendar, short spans favoured."""

    def aligned(day: dt.date) -> dt.date:
        if finest is chart_functions.TickUnit.MONTH:
            return day.replace(day=1)
        if finest is chart_functions.TickUnit.WEEK:
            return day - dt.timedelta(days=day.weekday())
        return day

    length = st.one_of(
        st.integers(0, 120), st.integers(0, 3_000), st.integers(0, LAST_DAY.toordinal())
    )
    return st.tuples(st.dates(dt.date(1, 1, 8), LAST_DAY), length).map(
        lambda pair: (
            aligned(pair[0]),
            aligned(dt.date.fromordinal(min(pair[0].toordinal() + pair[1], LAST_DAY.toordinal()))),
        )
    )


@pytest.mark.parametrize("finest", list(chart_functions.TickUnit)[:3], ids=str)
@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_date_ticks_are_few_distinct_ordered_and_within_the_data(
    finest: chart_functions.TickUnit, data: st.DataObject
) -> None:
    first, last = data.draw(spans(finest=finest))
    ticks = chart_functions.date_ticks(first, last, finest=finest)
    assert_readable(list(ticks.labels))
    assert all(first <= day <= last for day in ticks.dates)  # plotly shows them all
    assert list(ticks.dates) == sorted(set(ticks.dates))


def months_frame(first: dt.date, count: int) -> pd.DataFrame:
    months = pd.Series(pd.date_range(pd.Timestamp(first), periods=count, freq="MS", tz="UTC"))
    return pd.DataFrame(
        {
            "month": months.astype("datetime64[us, UTC]"),
            "sales": np.arange(1, count + 1, dtype="int64"),
            "revenue": np.linspace(100.0, 900.0, count),
            "average_price": np.full(count, 100.0),
        }
    )


def weeks_frame(first: dt.date, count: int) -> pd.DataFrame:
    monday = first - dt.timedelta(days=first.weekday())
    return pd.DataFrame(
        {
            "week": pd.Series(pd.date_range(monday, periods=count, freq="7D")).astype(
                "datetime64[us]"
            ),
            "visitors": np.arange(count, dtype="int64") + 10,
            "exhibitions_open": np.ones(count, dtype="int64"),
        }
    )


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)), count=st.integers(1, 600))
def test_monthly_revenue_labels_each_shown_tick_once(first: dt.date, count: int) -> None:
    """One month to fifty years of months: the labels plotly is given (every one of them
    shown: tickmode "array", ticks within the bars) are distinct and in time order. On
    Oct-Nov 2024 plotly's own ticks read "Oct 2024, Oct 2024, Nov 2024, Nov 2024"."""
    frame = months_frame(first.replace(day=1), count)
    axis = charts.monthly_revenue(frame).layout.xaxis
    assert axis.tickmode == "array"
    assert_readable(list(axis.ticktext))
    ticks = pd.to_datetime(list(axis.tickvals))
    assert frame["month"].min().tz_localize(None) <= ticks.min()
    assert ticks.max() <= frame["month"].max().tz_localize(None) + pd.Timedelta(days=31)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)), count=st.integers(1, 2_000))
def test_attendance_labels_each_shown_tick_once(first: dt.date, count: int) -> None:
    frame = weeks_frame(first, count)
    axis = charts.exhibition_attendance(frame).layout.xaxis
    assert axis.tickmode == "array"
    assert_readable(list(axis.ticktext))
    ticks = pd.to_datetime(list(axis.tickvals))
    assert frame["week"].min() <= ticks.min() <= ticks.max() <= frame["week"].max()


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.integers(1, 9999), length=st.integers(0, 9998))
def test_acquisition_years_are_labelled_once_each(first: int, length: int) -> None:
    last = min(first + length, 9999)
    frame = pd.DataFrame(
        {
            "year": np.array(sorted({first, last}), dtype="int64"),
            "artworks": np.array([1] * len({first, last}), dtype="int64"),
            "list_value": np.array([1.0] * len({first, last})),
        }
    )
    axis = charts.acquisitions_per_year(frame).layout.xaxis
    assert axis.tickmode == "array"
    assert_readable(list(axis.ticktext))
    assert list(axis.ticktext) == [str(year) for year in axis.tickvals]
    assert first <= min(axis.tickvals) <= max(axis.tickvals) <= last


def test_a_short_range_names_each_month_once() -> None:
    """The report of 15 Oct to 20 Nov 2024 showed "Oct 2024, Oct 2024, Nov 2024, ..."."""
    fig = charts.monthly_revenue(months_frame(dt.date(2024, 10, 1), 2))
    assert list(fig.layout.xaxis.ticktext) == ["Oct 2024", "Nov 2024"]
    weeks = charts.exhibition_attendance(weeks_frame(dt.date(2024, 10, 14), 6)).layout.xaxis
    assert list(weeks.ticktext) == [
        "14 Oct 2024",
        "21 Oct 2024",
        "28 Oct 2024",
        "04 Nov 2024",
        "11 Nov 2024",
        "18 Nov 2024",
    ]


def test_a_long_range_is_labelled_by_year() -> None:
    fig = charts.monthly_revenue(months_frame(dt.date(1990, 1, 1), 35 * 12))
    assert list(fig.layout.xaxis.ticktext) == [
        "1990",
        "1995",
        "2000",
        "2005",
        "2010",
        "2015",
        "2020",
    ]


# --- partial periods: a month or week the period covers in part is marked (issue 12 #7) ------


def test_a_partial_last_month_is_hatched_annotated_and_says_so() -> None:
    frame = months_frame(dt.date(2024, 1, 1), 3)
    fig = charts.monthly_revenue(frame, period=(dt.date(2024, 1, 1), dt.date(2024, 3, 15)))
    (bars,) = fig.data
    assert list(bars.marker.pattern.shape) == ["", "", "/"]
    assert list(bars.marker.opacity) == [1.0, 1.0, 0.45]
    assert [a.text for a in fig.layout.annotations] == [chart_functions.PARTIAL]
    assert pd.Timestamp(fig.layout.annotations[0].x).month == 3
    assert bars.hovertext[:2] == ("", "")
    assert "Partial month: 01 Mar 2024 to 15 Mar 2024 only" in bars.hovertext[2]
    assert "%{hovertext}" in bars.hovertemplate
    np.testing.assert_array_equal(bars.y, frame["revenue"].to_numpy())  # data unchanged


def test_a_partial_first_month_is_marked_and_whole_months_are_not() -> None:
    frame = months_frame(dt.date(2024, 1, 1), 3)
    fig = charts.monthly_revenue(frame, period=(dt.date(2024, 1, 2), dt.date(2024, 3, 31)))
    assert list(fig.data[0].marker.pattern.shape) == ["/", "", ""]
    whole = charts.monthly_revenue(frame, period=(dt.date(2024, 1, 1), dt.date(2024, 3, 31)))
    assert whole.layout.annotations == ()
    assert set(whole.data[0].marker.pattern.shape) == {""}
    assert charts.monthly_revenue(frame).layout.annotations == ()  # no period: nothing known


def test_a_week_cut_by_the_period_is_shaded_and_annotated() -> None:
    """A period ending on a Wednesday: its last week has three days of visitors, which
    drawn plainly looked like a collapse."""
    frame = weeks_frame(dt.date(2024, 10, 7), 3)  # weeks of 7, 14 and 21 October
    fig = charts.exhibition_attendance(frame, period=(dt.date(2024, 10, 7), dt.date(2024, 10, 23)))
    (line,) = fig.data
    assert list(line.marker.symbol) == ["circle", "circle", "circle-open"]
    assert "Partial week: 21 Oct 2024 to 23 Oct 2024 only" in line.hovertext[2]
    (band,) = fig.layout.shapes
    assert (band.x0, band.x1[:10]) == ("2024-10-21", "2024-10-27")
    assert [a.text for a in fig.layout.annotations] == [chart_functions.PARTIAL]
    np.testing.assert_array_equal(line.y, frame["visitors"].to_numpy())


@pytest.mark.parametrize(
    "period",
    [
        (dt.date(2024, 2, 1), dt.date(2024, 1, 1)),
        ("2024-01-01", "2024-02-01"),
        (dt.date(2024, 1, 1),),
    ],
)
def test_a_period_is_two_dates_in_order(period: object) -> None:
    with pytest.raises(ValidationError, match=r"^period: "):
        charts.monthly_revenue(revenue_frame(), period=period)


@settings(deadline=None, max_examples=200)
@given(maximum=st.integers(0, 10**12))
def test_count_axes_step_by_whole_numbers(maximum: int) -> None:
    """A count axis steps 1, 2, 5, 10... with at most MAX_TICKS ticks: plotly's own step
    for two artists was 0.5, labelled "0, 1, 1, 2, 2" in the whole-number format."""
    frame = pd.DataFrame(
        {
            "nationality": strings("FR"),
            "gender": strings("female"),
            "artists": np.array([maximum], dtype="int64"),
        }
    )
    axis = charts.artists_by_nationality_gender(frame).layout.xaxis
    assert (axis.tickmode, axis.tick0) == ("linear", 0)
    assert isinstance(axis.dtick, int)
    assert axis.dtick >= 1
    assert maximum / axis.dtick <= chart_functions.MAX_TICKS
    assert str(axis.dtick).strip("0") in {"1", "2", "5"}


def test_two_artists_are_counted_in_whole_steps() -> None:
    fig = charts.artists_by_nationality_gender(nationality_frame().iloc[:2])
    assert fig.layout.xaxis.dtick == 1
    assert charts.acquisitions_per_year(acquisitions_frame()).layout.yaxis.dtick == 1
    assert charts.exhibition_attendance(attendance_frame()).layout.yaxis.dtick == 50


def test_the_timeline_names_each_tick_once() -> None:
    axis = charts.exhibition_timeline(timeline_frame()).layout.xaxis
    assert axis.tickmode == "array"
    assert_readable(list(axis.ticktext))


def test_a_click_selects_only_what_can_filter() -> None:
    """Treemap tiles and revenue bars carry their selection as JSON ids (the dashboard's
    cross-filters); the "Other" bucket and a missing medium (the query's "Unknown")
    select nothing, since no medium is called so."""
    import json

    frame = treemap_frame()
    frame.loc[len(frame)] = {
        "medium": "Unknown",
        "status": "sold",
        "artworks": 4,
        "list_value": 1.0,
    }
    frame.loc[len(frame)] = {"medium": None, "status": "sold", "artworks": 1, "list_value": 1.0}
    (tree,) = charts.artworks_by_medium_status(frame).data
    selections = {}
    for node, label, parent in zip(tree.ids, tree.labels, tree.parents, strict=True):
        if node.startswith("{"):
            selections[(parent, label)] = json.loads(node)
    medium_tiles = {s["medium"] for s in selections.values() if "status" not in s}
    assert medium_tiles == {"Oil", "Bronze"}
    assert all(s["medium"] in {"Oil", "Bronze"} for s in selections.values())
    assert {"medium": "Oil", "status": "sold"} in selections.values()
    assert len(set(tree.ids)) == len(tree.ids)  # still unique
