"""The panel registry: each panel declared once, its query and chart named as it, its
columns typed per column, and everything that shows panels reading it (no database)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import re
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
import pytest

import gallery_analytics as ga
from gallery_analytics import charts, panels
from gallery_analytics.domain.columns import CURRENCY, ColumnSpec, Kind
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.results import PanelResult
from gallery_analytics.panels import PANELS, Display, Panel
from gallery_analytics.queries import overview as queries

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC
IDS = [panel.name for panel in PANELS]

# Rows as the database returns them (Python values), a few per panel.
ROWS: dict[str, list[dict[str, Any]]] = {
    "key_figures": [
        {"artworks": 1200, "revenue": 98765.4, "active_exhibitions": 3, "visitors": 45000}
    ],
    "monthly_revenue": [
        {
            "month": dt.datetime(2024, 1, 1, tzinfo=UTC),
            "sales": 3,
            "revenue": 1500.0,
            "average_price": 500.0,
        },
        {
            "month": dt.datetime(2024, 2, 1, tzinfo=UTC),
            "sales": 2,
            "revenue": 820.5,
            "average_price": 410.25,
        },
    ],
    "top_artists": [
        {
            "rank": 1,
            "artist_id": "a",
            "artist": "Berthe Morisot",
            "nationality": "FR",
            "sales": 6,
            "revenue": 600.0,
            "share": 0.6,
        },
        {
            "rank": 2,
            "artist_id": "b",
            "artist": "Anonymous",
            "nationality": None,
            "sales": 4,
            "revenue": 400.0,
            "share": 0.4,
        },
    ],
    "artworks_by_medium_status": [
        {"medium": "Oil", "status": "available", "artworks": 4, "list_value": 4000.0},
        {"medium": "Oil", "status": "sold", "artworks": 3, "list_value": 0.0},
        {"medium": "Bronze", "status": "on_loan", "artworks": 2, "list_value": 1200.0},
    ],
    "acquisitions_per_year": [
        {"year": 1990, "artworks": 7, "list_value": 70.0},
        {"year": 2024, "artworks": 3, "list_value": 30.0},
    ],
    "exhibition_attendance": [
        {"week": dt.date(2024, 1, 1), "visitors": 120, "exhibitions_open": 1},
        {"week": dt.date(2024, 1, 8), "visitors": 80, "exhibitions_open": 2},
    ],
    "artists_by_nationality_gender": [
        {"nationality": "FR", "gender": "female", "artists": 2},
        {"nationality": "NL", "gender": "male", "artists": 10},
    ],
}


def result_of(panel: Panel, *, currency: str = "EUR", **changes: Any) -> PanelResult:
    """A successful result of ``panel`` as the service makes it (units filled in)."""
    fields: dict[str, Any] = {
        "name": panel.name,
        "title": panel.title,
        "status": "ok",
        "columns": panel.columns_in(currency),
        "rows": tuple(ROWS[panel.name]),
        "row_count": len(ROWS[panel.name]),
        "wall_seconds": 0.01,
    }
    return PanelResult(**{**fields, **changes})


# -- completeness ------------------------------------------------------------------------------


def test_names_are_unique_and_the_package_exports_the_registry() -> None:
    assert len(set(IDS)) == len(IDS)
    assert ga.PANELS is PANELS
    assert ga.Panel is Panel
    assert set(ROWS) == set(IDS), "give every panel sample rows here"


@pytest.mark.parametrize("panel", PANELS, ids=IDS)
def test_query_has_the_panels_name_and_lives_with_the_sql(panel: Panel) -> None:
    assert panel.query.__name__ == panel.name
    assert panel.query.__module__ == queries.__name__
    assert getattr(queries, panel.name) is panel.query


@pytest.mark.parametrize("panel", PANELS, ids=IDS)
def test_charted_exactly_when_charts_has_a_function_of_its_name(panel: Panel) -> None:
    """A panel is drawn by charts.<its name> exactly when it is shown as a chart; a chart
    function named as a panel shown otherwise would be dead code (or a wrong display)."""
    assert (panel.display is Display.CHART) == hasattr(charts, panel.name)
    assert panel.charted == (panel.display is Display.CHART)
    if panel.charted:
        chart = panel.chart_function
        assert chart is not None
        assert chart.__name__ == panel.name
        assert chart.__module__ == charts.__name__
    else:
        assert panel.chart_function is None


def test_each_panel_declares_how_it_is_shown() -> None:
    shown_otherwise = {panel.name: panel.display for panel in PANELS if not panel.charted}
    assert shown_otherwise == {"key_figures": Display.TILES}
    table = Panel("slow", "Slow", (ColumnSpec("x", Kind.INT),), queries.key_figures)
    assert table.display is Display.TABLE  # the default: any panel can be a table
    assert Panel("t", "T", (), queries.key_figures, display="tiles").display is Display.TILES  # type: ignore[arg-type]
    with pytest.raises(ga.ValidationError, match=r"^display: .*expected one of chart, tiles"):
        Panel("t", "T", (), queries.key_figures, display="graph")  # type: ignore[arg-type]


@pytest.mark.parametrize("panel", [p for p in PANELS if p.charted], ids=lambda p: p.name)
def test_every_chart_is_given_the_panels_title_columns_and_currency(panel: Panel) -> None:
    """One signature for every panel chart: the registry passes the same four; the
    title and columns are required (the chart has no declaration of its own to fall back
    on), the currency defaults to EUR (None), the period (start, end) to none."""
    assert panel.chart_function is not None
    parameters = inspect.signature(panel.chart_function).parameters
    assert list(parameters) == ["frame", "columns", "title", "currency", "period"]
    assert parameters["columns"].default is inspect.Parameter.empty
    assert parameters["title"].default is inspect.Parameter.empty
    assert parameters["currency"].default is None
    assert parameters["period"].default is None


@pytest.mark.parametrize("panel", PANELS, ids=IDS)
def test_query_selects_the_declared_columns_in_order(panel: Panel) -> None:
    """Names only, without a database; kinds are checked against real rows in
    tests/integration/services/test_dashboard.py."""
    statement = panel.query(OverviewFilters(start="2024-01-01", end="2024-12-31"))
    assert list(statement.selected_columns.keys()) == [c.name for c in panel.columns]


@pytest.mark.parametrize("panel", PANELS, ids=IDS)
def test_columns_are_unique_labelled_and_formatted(panel: Panel) -> None:
    names = [column.name for column in panel.columns]
    assert len(set(names)) == len(names)
    for column in panel.columns:
        assert column.label
        if column.kind in (Kind.INT, Kind.FLOAT, Kind.DATE, Kind.TIMESTAMPTZ):
            assert column.format, f"{panel.name}.{column.name} needs a display format"


# -- categories, units, formats ----------------------------------------------------------------


def test_categories_are_declared_per_column() -> None:
    """Only the status column has the artwork statuses as levels (before, a helper gave
    every category column of every panel the statuses)."""
    with_levels = {
        (panel.name, column.name): column.categories
        for panel in PANELS
        for column in panel.columns
        if column.categories
    }
    statuses = tuple(status.value for status in ArtworkStatus)
    assert with_levels == {("artworks_by_medium_status", "status"): statuses}


def test_only_a_category_column_may_have_categories() -> None:
    with pytest.raises(ga.ValidationError) as caught:
        ColumnSpec("gender", Kind.STRING, ("female", "male"))
    assert caught.value.field == "columns.gender.categories"
    free = ColumnSpec("gender", Kind.CATEGORY)  # levels inferred from the data
    assert free.categories == ()


def test_money_columns_take_the_currency_of_the_load() -> None:
    revenue = panels.panel("monthly_revenue")
    assert revenue.takes_currency
    assert revenue.column("revenue").unit == CURRENCY
    filled = revenue.columns_in("USD")
    assert [column.unit for column in filled] == ["", "sales", "USD", "USD"]
    assert filled[2].heading() == "Revenue (USD)"
    assert not panels.panel("exhibition_attendance").takes_currency


def test_headings_and_display_formats() -> None:
    key_figures = panels.panel("key_figures")
    columns = {column.name: column for column in key_figures.columns_in("EUR")}
    assert columns["revenue"].heading() == "Revenue (EUR)"
    assert columns["visitors"].heading() == "Visitors"  # the unit is in the label already
    assert columns["active_exhibitions"].heading() == "Exhibitions open"
    assert columns["revenue"].show(98765.4) == "98,765"
    assert columns["artworks"].show(1200) == "1,200"
    assert columns["artworks"].show(None) == "-"
    assert columns["revenue"].show(float("nan")) == "-"
    top = panels.panel("top_artists")
    assert top.column("share").show(0.123) == "12.3%"
    month = panels.panel("monthly_revenue").column("month")
    assert month.show(dt.datetime(2024, 3, 1, tzinfo=UTC)) == "Mar 2024"


def test_table_shows_a_result_with_headings_and_formats() -> None:
    frame = panels.table(result_of(panels.panel("key_figures"), currency="USD"))
    assert list(frame.columns) == ["Artworks", "Revenue (USD)", "Exhibitions open", "Visitors"]
    assert frame.iloc[0].tolist() == ["1,200", "98,765", "3", "45,000"]
    top = panels.table(result_of(panels.panel("top_artists")), columns=["rank", "artist", "share"])
    assert top.to_dict("list") == {
        "Rank": ["1", "2"],
        "Artist": ["Berthe Morisot", "Anonymous"],
        "Share of revenue": ["60.0%", "40.0%"],
    }
    with pytest.raises(ga.ValidationError, match="no column 'artist_name'"):
        panels.table(result_of(panels.panel("top_artists")), columns=["artist_name"])


# -- lookup ------------------------------------------------------------------------------------


def test_lookup_by_name_lists_the_valid_names() -> None:
    assert panels.panel("top_artists").name == "top_artists"
    with pytest.raises(ga.ValidationError) as caught:
        panels.panel("top_artist")
    assert caught.value.field == "panel"
    assert "unknown panel 'top_artist'" in str(caught.value)
    assert ", ".join(IDS) in str(caught.value)
    with pytest.raises(ga.ValidationError, match="no column 'sale'"):
        panels.panel("monthly_revenue").column("sale")


# -- drawing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("panel", [p for p in PANELS if p.charted], ids=lambda p: p.name)
def test_each_chart_draws_its_panels_result(panel: Panel) -> None:
    """From rows shaped as the query returns them, typed by the declared columns, the
    chart of the panel's name draws a themed figure with data, under the registry title,
    labelled in the currency the result was loaded in."""
    fig = panels.draw(result_of(panel, currency="USD"))
    assert isinstance(fig, go.Figure)
    assert len(fig.data) > 0
    assert fig.layout.title.text == panel.title
    assert fig.layout.template == charts.GALLERY_TEMPLATE
    text = json.dumps(fig.to_plotly_json(), default=str)
    assert ("USD" in text) == panel.takes_currency
    assert "EUR" not in text


def test_chart_from_a_frame_is_one_call_and_ignores_currency_where_none_applies() -> None:
    from gallery_analytics.frames import to_frame

    attendance = panels.panel("exhibition_attendance")
    frame = to_frame(result_of(attendance))
    assert attendance.chart(frame, currency="USD").layout.title.text == attendance.title
    revenue = panels.panel("monthly_revenue")
    fig = revenue.chart(to_frame(result_of(revenue)), currency="GBP")
    assert fig.layout.yaxis.title.text == "Revenue (GBP)"


def test_a_failed_or_chartless_result_draws_a_figure_that_says_so() -> None:
    revenue = panels.panel("monthly_revenue")
    failed = result_of(revenue, status="error", error="boom <b>", rows=(), row_count=0)
    fig = panels.draw(failed)
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == "Panel failed: boom &lt;b&gt;"
    key_figures = panels.draw(result_of(panels.panel("key_figures")))
    assert key_figures.layout.annotations[0].text == panels.NO_CHART
    stranger = result_of(revenue, name="made_up", title="Made up")
    assert panels.draw(stranger).layout.annotations[0].text == panels.NO_CHART
    with pytest.raises(ga.ValidationError, match="is shown as tiles, not a chart"):
        panels.panel("key_figures").chart(to_frame_of(panels.panel("key_figures")))


def to_frame_of(panel: Panel) -> Any:
    from gallery_analytics.frames import to_frame

    return to_frame(result_of(panel))


def test_a_custom_panel_is_chartless_unless_it_says_otherwise() -> None:
    custom = Panel("slow", "Slow", (ColumnSpec("x", Kind.INT),), queries.key_figures)
    assert custom.chart_function is None
    named_wrong = dataclasses.replace(custom, display=Display.CHART)
    with pytest.raises(ga.ValidationError, match=r"charts\.slow does not exist"):
        _ = named_wrong.chart_function


def test_show_follows_each_panels_display() -> None:
    """A static page (the report) shows a chart panel's chart and any other panel's table
    (tiles included); ``draw`` of a panel not shown as a chart says it has none."""
    for declared in PANELS:
        shown = panels.show(result_of(declared))
        assert isinstance(shown, go.Figure) == declared.charted, declared.name
    as_table = dataclasses.replace(panels.panel("top_artists"), display=Display.TABLE)
    table = as_table.show(result_of(as_table))
    assert list(table.columns)[:3] == ["Rank", "Artist id", "Artist"]
    assert as_table.draw(result_of(as_table)).layout.annotations[0].text == panels.NO_CHART
    stranger = result_of(panels.panel("key_figures"), name="made_up")
    assert "Artworks" in panels.show(stranger).columns


# -- the chart draws with the specs the registry gives it ---------------------------------------

REVENUE_SPECS = (
    ColumnSpec("month", Kind.TIMESTAMPTZ, format="%Y-%m", label="Period"),
    ColumnSpec("sales", Kind.INT, unit="sales", format=",d"),
    ColumnSpec("revenue", Kind.FLOAT, unit=CURRENCY, format=",.1f", label="Takings"),
    ColumnSpec("average_price", Kind.FLOAT, unit=CURRENCY, format=",.3f"),
)


def test_axis_titles_and_formats_come_from_the_specs_a_chart_is_given() -> None:
    """Before, charts hard-coded "Revenue ({currency})", "Month", ",.2f" and "%b %Y"
    while the specs' labels, units and formats were read only by tables and tiles."""
    frame = to_frame_of(panels.panel("monthly_revenue"))
    fig = charts.monthly_revenue(frame, columns=REVENUE_SPECS, title="Takings", currency="GBP")
    assert fig.layout.title.text == "Takings"
    assert fig.layout.yaxis.title.text == "Takings (GBP)"
    assert fig.layout.yaxis.tickformat == ",.1f"
    assert fig.layout.xaxis.title.text == "Period"
    assert list(fig.layout.xaxis.ticktext) == ["2024-01", "2024-02"]  # the spec's "%Y-%m"
    hover = fig.data[0].hovertemplate
    assert "%{x|%Y-%m}" in hover
    assert "Takings: %{y:,.1f} GBP" in hover
    assert "Average price: %{customdata[1]:,.3f} GBP" in hover
    assert fig.data[0].name == "Takings"


@pytest.mark.parametrize("panel", [p for p in PANELS if p.charted], ids=lambda p: p.name)
def test_every_axis_title_is_a_heading_of_the_panels_specs(panel: Panel) -> None:
    fig = panel.chart(to_frame_of(panel), currency="USD")
    headings = {column.heading() for column in panel.columns_in("USD")}
    titles = [
        fig.layout[axis].title.text
        for axis in ("xaxis", "yaxis")
        if fig.layout[axis].title.text is not None
    ]
    if fig.layout.legend.title.text is not None:
        titles.append(fig.layout.legend.title.text)
    assert set(titles) <= headings, (titles, headings)
    assert titles or panel.name == "artworks_by_medium_status"  # a treemap has no axes


def test_a_chart_checks_the_frame_against_the_specs_it_is_given() -> None:
    revenue = panels.panel("monthly_revenue")
    frame = to_frame_of(revenue)
    margin = ColumnSpec("margin", Kind.FLOAT, format=".0%")
    with pytest.raises(ga.ValidationError) as caught:
        charts.monthly_revenue(frame, columns=(*revenue.columns, margin), title=revenue.title)
    assert caught.value.field == "frame.margin"
    assert "monthly_revenue needs column(s) margin" in str(caught.value)
    without_revenue = tuple(column for column in revenue.columns if column.name != "revenue")
    with pytest.raises(ga.ValidationError) as caught:
        charts.monthly_revenue(frame, columns=without_revenue, title=revenue.title)
    assert caught.value.field == "columns.revenue"


def test_no_panel_is_declared_again_in_the_charts() -> None:
    """Titles, column lists, headings and formats of panels are written in the registry
    only, and the registry passes them to the chart."""
    source = (ROOT / "gallery_analytics/charts.py").read_text(encoding="utf-8")
    assert "_SCHEMAS" not in source
    for declared in PANELS:
        assert f'"{declared.title}"' not in source, declared.title
    for literal in ('"Revenue ({currency})"', '",.2f"', '"%b %Y"', '"Month"', "(count)"):
        assert literal not in source, literal
    attendance = panels.panel("exhibition_attendance")
    drawn = attendance.chart(to_frame_of(attendance))
    assert drawn.layout.title.text == attendance.title
    assert drawn.layout.yaxis.title.text == attendance.column("visitors").heading()
    assert "from gallery_analytics import panels" not in source  # charts never look it up


# -- everything that shows panels reads the registry --------------------------------------------

CHART_NAMES = sorted(
    {name for name in charts.__all__ if callable(getattr(charts, name))}
    - {"apply_theme", "no_data_figure", "exhibition_timeline"}
)


def _code(path: Path) -> str:
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"
    )


@pytest.mark.parametrize(
    "path",
    [
        "gallery_analytics/widgets/dashboard.py",
        "notebooks/02-gallery-overview.ipynb",
        "notebooks/04-report.ipynb",
        "notebooks/06-interactive-dashboard.ipynb",
    ],
)
def test_no_panel_to_chart_mapping_outside_the_registry(path: str) -> None:
    """The widget and the notebooks draw panels through the registry; a call of a panel's
    chart function by name there is a second panel -> chart mapping to keep in step."""
    assert set(CHART_NAMES) == {panel.name for panel in PANELS if panel.display == "chart"}
    code = _code(ROOT / path)
    called = sorted(set(re.findall(r"charts\.(\w+)\(", code)) & set(CHART_NAMES))
    assert not called, f"{path} calls {called}; use panels.draw(result) or panel.chart(frame)"


def test_the_report_shows_every_panel_of_the_registry() -> None:
    """Notebook 04 iterates over the registry (a new panel appears without editing it)."""
    code = _code(ROOT / "notebooks/04-report.ipynb")
    assert "for panel in ga.PANELS:" in code
    # as the panel declares (its chart or its table), then its notes
    assert "display(*reports.show_panel(overview[panel.name], period=period))" in code
    assert "charted" not in code
    assert not re.search(r'overview\["(?!top_artists)\w+"\]', code), "panels by name"


def test_the_report_notebook_maps_its_parameters_through_report_parameters() -> None:
    """Before, notebook 04 applied the default period and split the mediums itself (a
    second copy of reports.check_parameters' mapping)."""
    code = _code(ROOT / "notebooks/04-report.ipynb")
    assert "reports.ReportParameters.parse(" in code
    assert "filters = parameters.filters()" in code
    assert "default_period" not in code
    assert ".split(" not in code


def test_no_benchmark_hard_codes_the_number_of_panels() -> None:
    count = len(PANELS)
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(rf"\b({count}|seven) panels\b", text), path.name


def test_the_registry_docstring_names_only_what_iterates_it() -> None:
    """The CLI summary reuses one query; there is no HTTP API yet."""
    doc = panels.__doc__ or ""
    assert "the CLI summary and the HTTP API" not in doc
    assert "the CLI summary reuses the ``top_artists`` query" in doc


@pytest.mark.parametrize("panel", PANELS, ids=IDS)
def test_a_panel_whose_query_reads_today_declares_it(panel: Panel) -> None:
    """The service reads Database.today() (a query) only for panels that declare
    ``needs_today``; a query that needs it without the declaration would fail on every
    load without dates, and a declaration without the need would cost a query."""
    if panel.needs_today:
        with pytest.raises(ga.ValidationError, match=r"^today: "):
            panel.query(OverviewFilters())
        assert panel.query(OverviewFilters(today="2025-11-15")) is not None
    else:
        assert panel.query(OverviewFilters()) is not None  # never reads filters.today
