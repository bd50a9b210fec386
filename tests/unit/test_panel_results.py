"""Panel results hold their declared kinds, from Python values and from JSON: a result
read back from JSON (the HTTP API, a cache) equals the one written and is shown the same;
a value or row that does not fit its columns is a ValidationError naming the panel and
column, not a format or key error from deep inside ``table`` (no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gallery_analytics import panels
from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.domain.results import GalleryOverviewDto, PanelResult
from gallery_analytics.errors import ValidationError
from gallery_analytics.panels import PANELS, Panel

UTC = dt.UTC
IDS = [panel.name for panel in PANELS]

# One or two rows per panel, as the database gives them (Decimal sums included).
ROWS: dict[str, list[dict[str, Any]]] = {
    "key_figures": [
        {"artworks": 12, "revenue": Decimal("98765.40"), "active_exhibitions": 3, "visitors": 4}
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
            "sales": 0,
            "revenue": None,
            "average_price": None,
        },
    ],
    "top_artists": [
        {
            "rank": 1,
            "artist_id": "a",
            "artist": "Berthe Morisot",
            "nationality": None,
            "sales": 6,
            "revenue": 600.0,
            "share": 0.6,
        }
    ],
    "artworks_by_medium_status": [
        {"medium": "Oil", "status": "sold", "artworks": 3, "list_value": 0.0}
    ],
    "acquisitions_per_year": [{"year": 1990, "artworks": 7, "list_value": 70.0}],
    "exhibition_attendance": [
        {"week": dt.date(2024, 1, 1), "visitors": 120, "exhibitions_open": 1},
        {"week": dt.date(2024, 1, 8), "visitors": 80, "exhibitions_open": 2},
    ],
    "artists_by_nationality_gender": [{"nationality": "FR", "gender": "female", "artists": 2}],
}


def result_of(panel: Panel, rows: list[dict[str, Any]] | None = None) -> PanelResult:
    """A successful result of ``panel`` as the service builds it (EUR filled in)."""
    rows = ROWS[panel.name] if rows is None else rows
    return PanelResult(
        name=panel.name,
        title=panel.title,
        status="ok",
        columns=panel.columns_in("EUR"),
        rows=tuple(rows),
        row_count=len(rows),
        wall_seconds=0.25,
    )


def overview() -> GalleryOverviewDto:
    return GalleryOverviewDto(
        panels={panel.name: result_of(panel) for panel in PANELS}, wall_seconds=1.5, parallel=True
    )


def round_trip(result: PanelResult) -> PanelResult:
    return PanelResult.model_validate_json(result.model_dump_json())


# -- JSON round trip ------------------------------------------------------------------------


def test_an_overview_read_back_from_json_equals_the_one_written() -> None:
    written = overview()
    read = GalleryOverviewDto.model_validate_json(written.model_dump_json())
    assert read == written
    assert read["monthly_revenue"].rows[0]["month"] == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert read["exhibition_attendance"].rows[0]["week"] == dt.date(2024, 1, 1)


@pytest.mark.parametrize("panel", PANELS, ids=IDS)
def test_a_result_read_back_from_json_is_shown_as_the_one_written(panel: Panel) -> None:
    written = result_of(panel)
    assert panels.table(round_trip(written)).equals(panels.table(written))


def test_dates_read_back_from_json_are_shown_in_their_display_format() -> None:
    monthly = panels.table(round_trip(result_of(panels.panel("monthly_revenue"))))
    assert list(monthly["Month"]) == ["Jan 2024", "Feb 2024"]
    assert list(monthly["Revenue (EUR)"]) == ["1,500.00", "-"]
    weekly = panels.table(round_trip(result_of(panels.panel("exhibition_attendance"))))
    assert list(weekly["Week (from Monday)"]) == ["01 Jan 2024", "08 Jan 2024"]


def test_a_model_dump_dict_in_json_mode_is_read_back_too() -> None:
    written = result_of(panels.panel("exhibition_attendance"))
    assert PanelResult.model_validate(written.model_dump(mode="json")) == written


def test_database_decimals_become_the_kinds_numbers() -> None:
    result = result_of(
        panels.panel("key_figures"),
        [
            {
                "artworks": 12,
                "revenue": Decimal("10.5"),
                "active_exhibitions": 3,
                "visitors": Decimal("4"),
            }
        ],
    )
    row = result.rows[0]
    assert row["revenue"] == 10.5
    assert type(row["revenue"]) is float
    assert row["visitors"] == 4
    assert type(row["visitors"]) is int
    assert round_trip(result) == result


# -- values that do not fit their columns ---------------------------------------------------


def top_artist(**changes: Any) -> dict[str, Any]:
    return {**ROWS["top_artists"][0], **changes}


@pytest.mark.parametrize(
    ("row", "column", "expected"),
    [
        (top_artist(sales="6"), "sales", "expected an integer, got str '6'"),
        (top_artist(sales=True), "sales", "expected an integer"),
        (top_artist(sales=6.5), "sales", "expected an integer"),
        (top_artist(revenue="600"), "revenue", "expected a finite number"),
        (top_artist(revenue=float("inf")), "revenue", "expected a finite number"),
        (top_artist(artist=7), "artist", "expected text"),
    ],
)
def test_a_value_its_column_cannot_hold_names_panel_row_and_column(
    row: dict[str, Any], column: str, expected: str
) -> None:
    with pytest.raises(ValidationError, match="top_artists") as caught:
        result_of(panels.panel("top_artists"), [row])
    assert caught.value.field == "rows"
    assert f"row 0, column {column!r}" in caught.value.reason
    assert expected in caught.value.reason


def test_dates_and_timestamps_must_be_of_their_kind() -> None:
    attendance = panels.panel("exhibition_attendance")
    with pytest.raises(ValidationError, match="'week': expected a date"):
        result_of(
            attendance, [{"week": dt.datetime(2024, 1, 1), "visitors": 1, "exhibitions_open": 1}]
        )
    with pytest.raises(ValidationError, match="'week': expected a date"):
        result_of(attendance, [{"week": "last monday", "visitors": 1, "exhibitions_open": 1}])
    monthly = panels.panel("monthly_revenue")
    naive = {**ROWS["monthly_revenue"][0], "month": dt.datetime(2024, 1, 1)}
    with pytest.raises(ValidationError, match="with a time zone"):
        result_of(monthly, [naive])


def test_a_category_outside_its_levels_is_refused() -> None:
    row = {**ROWS["artworks_by_medium_status"][0], "status": "stolen"}
    with pytest.raises(ValidationError, match="'status': expected one of available"):
        result_of(panels.panel("artworks_by_medium_status"), [row])


def test_a_row_missing_a_declared_column_is_refused_not_shown_as_null() -> None:
    """A missing key means the query and the declaration disagree; a null is None."""
    row = top_artist()
    del row["artist_id"]
    with pytest.raises(ValidationError, match="row 0: column 'artist_id' is missing"):
        result_of(panels.panel("top_artists"), [row])
    shown = panels.table(result_of(panels.panel("top_artists"), [top_artist(nationality=None)]))
    assert list(shown["Nationality"]) == ["-"]


def test_a_row_with_an_undeclared_column_is_refused() -> None:
    with pytest.raises(ValidationError, match="column 'extra' is not declared"):
        result_of(panels.panel("top_artists"), [top_artist(extra=1)])


def test_json_with_a_bad_value_is_refused_by_pydantic() -> None:
    text = (
        result_of(panels.panel("top_artists")).model_dump_json().replace('"sales":6', '"sales":"6"')
    )
    with pytest.raises(ValueError, match="column 'sales': expected an integer"):
        PanelResult.model_validate_json(text)


def test_show_refuses_a_value_its_kind_cannot_hold() -> None:
    spec = ColumnSpec("sales", Kind.INT, format=",d")
    assert spec.show(1234) == "1,234"
    with pytest.raises(ValidationError, match="sales: expected an integer, got str"):
        spec.show("1234")
    assert ColumnSpec("week", Kind.DATE, format="%d %b %Y").show("2024-01-08") == "08 Jan 2024"
    assert spec.show(float("nan")) == "-"


@pytest.mark.parametrize("columns", ["artist", 7, ["artist", 7]])
def test_table_columns_must_be_a_list_of_names(columns: Any) -> None:
    with pytest.raises(ValidationError, match=r"top_artists.*expected a list of column names"):
        panels.table(result_of(panels.panel("top_artists")), columns=columns)
    assert list(panels.table(result_of(panels.panel("top_artists")), columns=["artist"])) == [
        "Artist"
    ]


# -- property: any rows of the declared kinds survive JSON and are shown ------------------

_SAFE_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_TIMES = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)
)  # strftime's %Y needs four digits on every platform


def _value(spec: ColumnSpec) -> st.SearchStrategy[Any]:
    by_kind: dict[Kind, st.SearchStrategy[Any]] = {
        Kind.INT: st.integers(-(2**62), 2**62),
        Kind.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
        Kind.BOOL: st.booleans(),
        Kind.STRING: _SAFE_TEXT,
        Kind.CATEGORY: st.sampled_from(spec.categories) if spec.categories else _SAFE_TEXT,
        Kind.TIMESTAMPTZ: _TIMES.map(lambda moment: moment.replace(tzinfo=UTC)),
        Kind.TIMESTAMP: _TIMES,
        Kind.DATE: _TIMES.map(lambda moment: moment.date()),
    }
    return st.one_of(st.none(), by_kind[spec.kind])


@st.composite
def results(draw: st.DrawFn) -> PanelResult:
    panel = draw(st.sampled_from(PANELS))
    columns = panel.columns_in("EUR")
    row = st.fixed_dictionaries({spec.name: _value(spec) for spec in columns})
    return result_of(panel, draw(st.lists(row, max_size=4)))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(results())
def test_rows_of_the_declared_kinds_survive_json_and_are_shown(result: PanelResult) -> None:
    read = round_trip(result)
    assert read == result
    shown = panels.table(read)
    assert shown.equals(panels.table(result))
    assert len(shown) == len(result.rows)
