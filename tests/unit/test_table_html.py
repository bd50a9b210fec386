"""panels.table_html / notes_html: a panel result as the escaped HTML table and notes the
report shows (and the dashboard reuses): headings with units, formatted cells, numbers
right-aligned, no row index (issue 12 #7)."""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gallery_analytics as ga
from gallery_analytics import panels
from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.domain.results import PanelResult


class _Cells(HTMLParser):
    """The text of every <th>/<td> by row, each cell's attributes, and the caption."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.attributes: list[list[dict[str, str | None]]] = []
        self.caption = ""
        self._in: str | None = None
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
            self.attributes.append([])
        elif tag in {"th", "td"}:
            self.rows[-1].append("")
            self.attributes[-1].append(dict(attrs))
            self._in = tag
        elif tag == "caption":
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag in {"th", "td", "caption"}:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "caption":
            self.caption += data
        elif self._in:
            self.rows[-1][-1] += data


def parse(markup: str) -> _Cells:
    cells = _Cells()
    cells.feed(markup)
    return cells


def key_figures(**changes: Any) -> PanelResult:
    panel = panels.panel("key_figures")
    fields: dict[str, Any] = {
        "name": panel.name,
        "title": panel.title,
        "status": "ok",
        "columns": panel.columns_in("EUR"),
        "rows": (
            {"artworks": 225, "revenue": 1592900.0, "active_exhibitions": 10, "visitors": 151730},
        ),
        "wall_seconds": 0.01,
    }
    return PanelResult(**{**fields, **changes})


def test_cells_are_formatted_headed_and_there_is_no_index() -> None:
    """The report showed pandas' index column ("0") before the headings and values."""
    cells = parse(panels.table_html(key_figures()))
    assert cells.caption == "Key figures"
    assert cells.rows == [
        ["Artworks", "Revenue (EUR)", "Exhibitions open", "Visitors"],
        ["225", "1,592,900", "10", "151,730"],
    ]
    assert "0" not in cells.rows[1][:1]


def test_numbers_are_right_aligned_and_text_left_with_class_hooks() -> None:
    panel = panels.panel("top_artists")
    result = PanelResult(
        name=panel.name,
        title=panel.title,
        status="ok",
        columns=panel.columns_in("EUR"),
        rows=(
            {
                "rank": 1,
                "artist_id": "a1",
                "artist": "Anton Nakamura",
                "nationality": None,
                "sales": 11,
                "revenue": 287160.0,
                "share": 0.18,
            },
        ),
        wall_seconds=0.01,
    )
    markup = panels.table_html(
        result, columns=["rank", "artist", "nationality", "revenue", "share"]
    )
    cells = parse(markup)
    assert cells.rows[1] == ["1", "Anton Nakamura", "-", "287,160.00", "18.0%"]
    assert cells.rows[0][3] == "Revenue (EUR)"
    kinds = [a["class"] for a in cells.attributes[1]]
    assert kinds == [
        "gallery-cell gallery-number",
        "gallery-cell gallery-text",
        "gallery-cell gallery-text",
        "gallery-cell gallery-number",
        "gallery-cell gallery-number",
    ]
    styles = [a["style"] or "" for a in cells.attributes[1]]
    assert [("text-align: right" in style) for style in styles] == [True, False, False, True, True]
    assert markup.startswith('<table class="gallery-table" data-panel="top_artists">')
    assert cells.attributes[0][0].get("scope") == "col"


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(title=TEXT, label=TEXT, unit=TEXT, values=st.lists(st.one_of(st.none(), TEXT), max_size=4))
def test_every_text_is_escaped(title: str, label: str, unit: str, values: list[str | None]) -> None:
    """Titles, headings and values from the data are text, never markup: parsed back,
    the cells read exactly what was given, and no tag other than the table's appears."""
    column = ColumnSpec("name", Kind.STRING, unit=unit, label=label or "Name")
    result = PanelResult(
        name="custom<script>",
        title=title,
        status="ok",
        columns=(column,),
        rows=tuple({"name": value} for value in values),
        wall_seconds=0.0,
    )
    markup = panels.table_html(result)
    cells = parse(markup)
    assert set(cells.tags) <= {"table", "caption", "thead", "tbody", "tr", "th", "td"}
    assert cells.caption == title
    assert cells.rows[0] == [column.heading()]
    if values:
        assert [row[0] for row in cells.rows[1:]] == [column.show(value) for value in values]
    assert 'data-panel="custom&lt;script&gt;"' in markup


def test_a_failed_or_empty_panel_says_so_in_one_row() -> None:
    failed = key_figures(status="error", rows=(), error="server <gone>")
    cells = parse(panels.table_html(failed))
    assert cells.rows[1] == ["Panel failed: server <gone>"]
    assert cells.attributes[1][0]["colspan"] == "4"
    empty = parse(panels.table_html(key_figures(rows=())))
    assert empty.rows[1] == ["No data for the current filters"]


def test_dates_are_shown_in_their_format() -> None:
    panel = panels.panel("exhibition_attendance")
    result = PanelResult(
        name=panel.name,
        title=panel.title,
        status="ok",
        columns=panel.columns,
        rows=({"week": dt.date(2024, 10, 7), "visitors": 1200, "exhibitions_open": 2},),
        wall_seconds=0.0,
    )
    assert parse(panels.table_html(result)).rows[1] == ["07 Oct 2024", "1,200", "2"]


def test_columns_are_checked_as_for_panels_table() -> None:
    with pytest.raises(ga.ValidationError, match=r"^columns: panel 'key_figures' has no column"):
        panels.table_html(key_figures(), columns=["nope"])
    with pytest.raises(ga.ValidationError, match=r"^columns: .*expected a list"):
        panels.table_html(key_figures(), columns="artworks")


def test_notes_are_escaped_list_items_and_nothing_without_notes() -> None:
    assert panels.notes_html(key_figures()) == ""
    notes = ("Left out 2,393 sales in USD and GBP (no rate).", "<b>bold</b> & more")
    markup = panels.notes_html(key_figures(notes=notes))
    assert re.findall(r'<li class="gallery-panel-note" role="note">(.*?)</li>', markup) == [
        html.escape(note) for note in notes
    ]
    assert markup.startswith('<ul class="gallery-panel-notes" data-panel="key_figures">')
