"""Chart builders: themed figures whose traces carry exactly the input data.

Frames are built by hand with the dtypes the analytics queries produce (pyarrow strings,
Categorical status, tz-aware months, naive dates), so no database is needed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
import pytest

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
