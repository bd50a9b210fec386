"""Report parameters <-> overview filters, without a database."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

import pytest

import gallery_analytics as ga
from gallery_analytics import panels
from gallery_analytics.domain.enums import ArtworkStatus
from gallery_analytics.domain.filters import NOT_REPORT_PARAMETERS, REPORT_PARAMETERS
from gallery_analytics.domain.results import GalleryOverviewDto, PanelResult

reports = pytest.importorskip("gallery_analytics.reports")

DEMO_TODAY = dt.date(2025, 11, 15)


def test_both_dates_given_need_no_today() -> None:
    """A report whose dates are given must not read "today" (the database): a kernel
    whose database has gone must still reach its panels and report them failed."""
    parameters = reports.ReportParameters.parse(
        {"start": "2024-01-01", "end": "2024-06-30", "medium": "Oil, Print"}, today=None
    )
    assert (parameters.start, parameters.end) == (dt.date(2024, 1, 1), dt.date(2024, 6, 30))
    assert parameters.filters().mediums == ("Oil", "Print")


def test_a_missing_date_comes_from_the_default_period_of_today() -> None:
    parameters = reports.ReportParameters.parse({"end": None}, today=DEMO_TODAY)
    assert (parameters.start, parameters.end) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    with pytest.raises(ga.ValidationError, match=r"^today: "):
        reports.ReportParameters.parse({"start": "2024-01-01"}, today=None)


def test_a_start_after_the_default_end_is_refused_not_reversed() -> None:
    with pytest.raises(ga.ValidationError, match=r"^end: .*reversed"):
        reports.ReportParameters.parse({"start": "2025-06-01"}, today=DEMO_TODAY)


def test_filters_and_parameters_round_trip() -> None:
    filters = ga.OverviewFilters(
        start="2024-02-01", end="2024-03-31", mediums=["Oil", "Print"], status="sold"
    )
    assert reports.ReportParameters.from_filters(filters, today=None).filters() == filters


def test_the_report_title_says_what_it_covers_and_is_escaped(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    parameters = reports.ReportParameters.parse(
        {"start": "2024-01-01", "end": "2024-06-30", "medium": "</title><script>x()</script>"},
        today=None,
    )
    title = reports.report_title(parameters)
    assert title == (
        "Gallery report, 2024-01-01 to 2024-06-30, </title><script>x()</script>, in EUR"
    )
    source = tmp_path / "executed.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), source)
    html_path = tmp_path / "report.html"
    reports.export_html(source, html_path, title=title)
    html = html_path.read_text(encoding="utf-8")
    assert "<script>x()</script>" not in html
    assert "<title>Gallery report, 2024-01-01 to 2024-06-30, &lt;/title&gt;" in html


# -- what the report shows for each panel (issue 12 #7) ----------------------------------------


def _result(name: str, rows: tuple[dict[str, Any], ...], **changes: Any) -> PanelResult:
    panel = panels.panel(name)
    fields: dict[str, Any] = {
        "name": panel.name,
        "title": panel.title,
        "status": "ok",
        "columns": panel.columns_in("EUR"),
        "rows": rows,
        "wall_seconds": 0.01,
    }
    return PanelResult(**{**fields, **changes})


KEY_FIGURES = (
    {"artworks": 225, "revenue": 1592900.0, "active_exhibitions": 10, "visitors": 151730},
)
MONTHS = tuple(
    {
        "month": dt.datetime(2024, month, 1, tzinfo=dt.UTC),
        "sales": 3,
        "revenue": 1000.0,
        "average_price": 333.0,
    }
    for month in (1, 2, 3)
)


def test_a_table_panel_is_a_formatted_html_table_without_index() -> None:
    """The report showed key figures as a DataFrame: an index column "0" before them."""
    (shown,) = reports.show_panel(_result("key_figures", KEY_FIGURES))
    markup = shown._repr_html_()
    assert "<th" in markup
    assert ">0<" not in markup
    assert ">1,592,900<" in markup
    assert ">151,730<" in markup
    assert "Revenue (EUR)" in markup
    assert reports.show_table(
        _result("key_figures", KEY_FIGURES), columns=["revenue"]
    )._repr_html_() == (panels.table_html(_result("key_figures", KEY_FIGURES), columns=["revenue"]))


def test_each_panels_notes_follow_it() -> None:
    note = "Left out 12 sales in USD (no exchange rate for their month)."
    chart, notes = reports.show_panel(_result("monthly_revenue", MONTHS, notes=(note,)))
    assert chart.layout.title.text == "Revenue by month"
    assert notes._repr_html_() == panels.notes_html(
        _result("monthly_revenue", MONTHS, notes=(note,))
    )
    assert note in notes._repr_html_()
    _table, table_notes = reports.show_panel(_result("key_figures", KEY_FIGURES, notes=(note,)))
    assert note in table_notes._repr_html_()
    assert len(reports.show_panel(_result("key_figures", KEY_FIGURES))) == 1  # none: nothing


def test_the_report_marks_a_month_its_period_covers_in_part() -> None:
    (chart,) = reports.show_panel(
        _result("monthly_revenue", MONTHS), period=(dt.date(2024, 1, 1), dt.date(2024, 3, 20))
    )
    assert list(chart.data[0].marker.pattern.shape) == ["", "", "/"]
    assert [annotation.text for annotation in chart.layout.annotations] == ["partial"]


# -- the report shows what the filters show: currency, artist, nothing dropped (issue 12) ------

ARTIST = "6f1c2a4e-0b9d-4c4e-8a53-1f2e3d4c5b6a"

# One value of each OverviewFilters field that is a report parameter, other than its
# default: from_filters must carry it to the report and back.
CARRIED = {
    "start": dt.date(2024, 2, 1),
    "end": dt.date(2024, 3, 31),
    "mediums": ("Oil", "Print"),
    "status": ArtworkStatus.SOLD,
    "user_id": "0b6f3c1e-7c55-4f0e-9d8e-2a1b3c4d5e6f",
    "artist_id": ARTIST,
    "currency": "GBP",
}


def test_every_overview_filter_is_a_report_parameter_or_listed_with_its_reason() -> None:
    """A filter the report does not carry would export a report on something else than
    the view, silently (the currency and the artist did): a new OverviewFilters field
    must be carried (ReportParameters.from_filters, and a value in CARRIED here) or be
    listed in NOT_REPORT_PARAMETERS with the reason."""
    fields = set(ga.OverviewFilters.model_fields)
    unaccounted = fields - set(CARRIED) - set(NOT_REPORT_PARAMETERS)
    assert not unaccounted, (
        f"OverviewFilters.{sorted(unaccounted)[0]} is neither a report parameter "
        "(ReportParameters.from_filters) nor in NOT_REPORT_PARAMETERS with its reason"
    )
    assert not set(CARRIED) & set(NOT_REPORT_PARAMETERS)
    assert set(NOT_REPORT_PARAMETERS) <= fields  # no stale entries
    assert all(len(reason.split()) >= 5 for reason in NOT_REPORT_PARAMETERS.values())
    defaults = ga.OverviewFilters(start="2024-01-01", end="2024-12-31")
    for field, value in CARRIED.items():
        filters = defaults.model_copy(update={field: value})
        assert getattr(filters, field) != getattr(defaults, field)
        parameters = reports.ReportParameters.from_filters(filters, today=None)
        assert getattr(parameters.filters(), field) == value, f"{field} is dropped"
        # ... and through the text papermill and the CLI give.
        assert reports.ReportParameters.parse(parameters.for_papermill(), today=None) == (
            parameters
        ), f"{field} is lost on its way through the notebook's parameters"
    assert set(reports.ReportParameters.from_filters(defaults, today=None).for_papermill()) == (
        set(REPORT_PARAMETERS)
    )


def test_a_top_n_the_report_cannot_show_is_refused_not_dropped() -> None:
    filters = ga.OverviewFilters(start="2024-01-01", end="2024-12-31", top_n=5)
    with pytest.raises(ga.ValidationError, match=r"^top_n: a report ranks the top 10 artists"):
        reports.ReportParameters.from_filters(filters, today=None)
    # "today" shows nothing in a report (it always has a start and an end): no refusal.
    dated = ga.OverviewFilters(start="2024-01-01", end="2024-12-31", today="2025-01-01")
    assert reports.ReportParameters.from_filters(dated, today=None).filters() == (
        dated.model_copy(update={"today": None})
    )


def test_currency_and_artist_are_parameters_checked_as_the_filters_check_them() -> None:
    both = {"start": "2024-01-01", "end": "2024-06-30"}
    parameters = reports.ReportParameters.parse(
        {**both, "currency": "GBP", "artist_id": ARTIST.upper()}, today=None
    )
    assert (parameters.currency, parameters.artist_id) == ("GBP", ARTIST)
    assert (parameters.filters().currency, parameters.filters().artist_id) == ("GBP", ARTIST)
    assert parameters.for_papermill()["currency"] == "GBP"
    assert parameters.for_papermill()["artist_id"] == ARTIST
    # Not given (papermill's None, an empty --param): EUR and every artist.
    for missing in ({}, {"currency": None, "artist_id": None}, {"currency": "", "artist_id": ""}):
        default = reports.ReportParameters.parse({**both, **missing}, today=None)
        assert (default.currency, default.artist_id) == ("EUR", None)
    for value in ("gbp", "EURO", "G B", "£"):
        with pytest.raises(
            ga.ValidationError, match=r"^currency: expected a currency code such as EUR"
        ):
            reports.ReportParameters.parse({**both, "currency": value}, today=None)
    with pytest.raises(ga.ValidationError, match=r"^artist_id: expected a UUID"):
        reports.ReportParameters.parse({**both, "artist_id": "Hokusai"}, today=None)


def test_options_and_pairs_name_each_parameter_once() -> None:
    assert reports.parse_parameter_pairs(
        ["start=2024-01-01"], options={"currency": "GBP", "artist_id": None}
    ) == {"start": "2024-01-01", "currency": "GBP"}
    with pytest.raises(ga.ValidationError, match=r"^currency: given more than once"):
        reports.parse_parameter_pairs(["currency=USD"], options={"currency": "GBP"})


def test_the_title_and_heading_state_the_currency_and_the_artist_by_name() -> None:
    pytest.importorskip("IPython")
    parameters = reports.ReportParameters.parse(
        {"start": "2024-01-01", "end": "2024-06-30", "currency": "GBP", "artist_id": ARTIST},
        today=None,
    )
    name = "<img src=x onerror=alert(1)> *Kahlo*"
    assert reports.report_title(parameters, artist=name) == (
        f"Gallery report, 2024-01-01 to 2024-06-30, artist {name}, in GBP"
    )
    assert reports.report_title(parameters) == (
        f"Gallery report, 2024-01-01 to 2024-06-30, artist {ARTIST}, in GBP"
    )
    euro = reports.ReportParameters.parse({"start": "2024-01-01", "end": "2024-06-30"}, today=None)
    assert reports.report_title(euro) == "Gallery report, 2024-01-01 to 2024-06-30, in EUR"

    overview = GalleryOverviewDto(
        panels={"key_figures": _result("key_figures", KEY_FIGURES)},
        wall_seconds=0.1,
        parallel=True,
    )
    heading = reports.report_heading(parameters.filters(), overview, artist=name)
    assert heading.data == (
        "**Period:** 2024-01-01 to 2024-06-30, artist &#60;img src=x onerror=alert\\(1\\)&#62; "
        "\\*Kahlo\\*. **Amounts in:** GBP (converted at monthly exchange rates). "
        "**Panels that failed:** 0."
    )
    assert heading.metadata[reports.HEADING_METADATA]["artist"] == name


def test_a_value_holding_an_address_shows_as_text_not_a_link() -> None:
    """Bare addresses are links to Markdown renderers whatever is backslash-escaped:
    an artist named "[Co](http://x)" showed as "[Co](" and a link to "http://x\\"."""
    markdown = pytest.importorskip("nbconvert.filters.markdown_mistune")
    value = "[Co](http://x) https://a.b/c www.example.com a@b.com <b>J. M. W. Turner</b>"
    rendered = markdown.markdown2html_mistune(reports.escape_markdown(value))
    assert "<a " not in rendered
    assert html.unescape(rendered) == f"<p>{value}</p>\n"


def test_the_report_notebook_has_a_parameter_cell_line_for_every_report_parameter() -> None:
    """papermill injects every name of REPORT_PARAMETERS; each must have its default in
    notebook 04's parameters cell and reach ReportParameters.parse in the next one."""
    nbformat = pytest.importorskip("nbformat")
    from gallery_analytics.notebooks import notebooks_dir

    notebook = nbformat.read(notebooks_dir() / "04-report.ipynb", as_version=4)
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assigned = {line.split(" = ")[0] for line in cell.source.splitlines() if " = " in line}
    assert set(REPORT_PARAMETERS) <= assigned
    parsing = next(c.source for c in notebook.cells if "ReportParameters.parse(" in c.source)
    for name in REPORT_PARAMETERS:
        assert f'"{name}": {name}' in parsing
