"""panels.table_csv: a panel's rows for a spreadsheet, values that calculate, and no
cell a spreadsheet would run as a formula (CSV injection)."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from gallery_analytics import panels
from gallery_analytics.domain.results import PanelResult

TOP = panels.panel("top_artists")


def _result(artist: str, revenue: float | None = 1234.5) -> PanelResult:
    row = {
        "rank": 1,
        "artist_id": "a1",
        "artist": artist,
        "nationality": None,
        "sales": 3,
        "revenue": revenue,
        "share": 0.25,
    }
    return PanelResult(
        name=TOP.name,
        title=TOP.title,
        status="ok",
        columns=TOP.columns_in("EUR"),
        rows=(row,),
        wall_seconds=0.1,
    )


def test_values_calculate_and_headings_say_the_unit() -> None:
    rows = list(csv.reader(io.StringIO(panels.table_csv(_result("Berthe Morisot")))))
    assert rows[0] == [
        "Rank",
        "Artist id",
        "Artist",
        "Nationality",
        "Sales",
        "Revenue (EUR)",
        "Share of revenue",
    ]
    assert rows[1] == ["1", "a1", "Berthe Morisot", "", "3", "1234.5", "0.25"]


@given(st.sampled_from(["=", "+", "-", "@", "\t", "\r"]), st.text(max_size=30))
def test_no_text_cell_starts_a_formula(start: str, rest: str) -> None:
    name = start + rest
    rows = list(csv.reader(io.StringIO(panels.table_csv(_result(name)))))
    assert rows[1][2] == "'" + name  # shown as the text it is
    assert not rows[1][2].startswith(("=", "+", "-", "@"))
