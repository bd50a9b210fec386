"""Report parameters <-> overview filters, without a database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import gallery_analytics as ga
from gallery_analytics import panels
from gallery_analytics.domain.results import PanelResult

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
    assert title == "Gallery report, 2024-01-01 to 2024-06-30, </title><script>x()</script>"
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
