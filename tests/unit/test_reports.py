"""Report parameters <-> overview filters, without a database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import gallery_analytics as ga

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
