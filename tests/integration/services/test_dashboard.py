"""DashboardService: panel values checked against pandas over the generated raw rows,
panels failing or timing out alone, cancellation leaving nothing behind."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import String, cast, func, literal, select, text

from gallery_analytics import NotFoundError, ValidationError
from gallery_analytics.db.database import APPLICATION_NAME, Database
from gallery_analytics.demo.generate import DEMO_TODAY, SIZES, generate_demo_data
from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.frames import to_frame
from gallery_analytics.panels import PANELS, Panel
from gallery_analytics.queries import overview
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.summary import SummaryService

FILTERED = {
    "start": dt.date(2022, 3, 1),
    "end": dt.date(2024, 6, 30),
    "mediums": ["Photography", "Print", "Oil on canvas"],
}


@pytest.fixture(scope="module")
def raw() -> dict[str, pd.DataFrame]:
    """The small demo dataset as pandas, straight from the generator (no SQL involved)."""
    tables: dict[str, pa.Table] = generate_demo_data(SIZES["small"], 42)
    frames = {name: table.to_pandas() for name, table in tables.items()}
    for name in ("users", "artists", "artworks", "exhibitions", "sales"):
        frames[name]["id"] = frames[name]["id"].map(_dashed)
    for name, columns in {
        "artists": ["owner_id"],
        "artworks": ["artist_id", "owner_id"],
        "exhibitions": ["curator_id"],
        "sales": ["artwork_id"],
        "exhibition_artworks": ["exhibition_id", "artwork_id"],
        "exhibition_visits": ["exhibition_id"],
    }.items():
        for column in columns:
            frames[name][column] = frames[name][column].map(_dashed)
    return frames


def _dashed(hex_id: str) -> str:
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def _works(raw: dict[str, pd.DataFrame], filters: OverviewFilters) -> pd.DataFrame:
    works = raw["artworks"]
    if filters.mediums:
        works = works[works["medium"].isin(filters.mediums)]
    if filters.status is not None:
        works = works[works["status"] == filters.status.value]
    if filters.user_id is not None:
        works = works[works["owner_id"] == filters.user_id]
    return works


def _in_range(values: pd.Series, filters: OverviewFilters) -> pd.Series:
    keep = pd.Series(True, index=values.index)
    if filters.start is not None:
        keep &= values >= pd.Timestamp(filters.start, tz="UTC")
    if filters.end is not None:
        keep &= values < pd.Timestamp(filters.end + dt.timedelta(days=1), tz="UTC")
    return keep


def _sales(raw: dict[str, pd.DataFrame], filters: OverviewFilters) -> pd.DataFrame:
    """The filtered sales, ``price`` in the filters' currency at the sale month's rate
    (the demo has a rate for every month it sells in)."""
    sales = raw["sales"][_in_range(raw["sales"]["sold_at"], filters)]
    sales = sales[sales["artwork_id"].isin(_works(raw, filters)["id"])].copy()
    rates = raw["exchange_rates"].set_index(["currency", "month"])["rate"]
    months = sales["sold_at"].dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.date

    def worth(codes: pd.Series) -> pd.Series:  # one unit, in EUR (the rates' base)
        found = [1.0 if c == "EUR" else rates[(c, m)] for c, m in zip(codes, months, strict=True)]
        return pd.Series(found, index=sales.index)

    target = pd.Series(filters.currency, index=sales.index)
    factor = (worth(sales["currency"]) / worth(target)).where(
        sales["currency"] != filters.currency, 1.0
    )
    sales["price"] = sales["price"] * factor
    return sales


async def _overview(db: Database, filters: dict[str, Any]) -> tuple[Any, OverviewFilters]:
    result = await DashboardService(db).get_gallery_overview(filters)
    assert not result.failed, result.failed
    return result, OverviewFilters.parse(filters)


@pytest.mark.parametrize("filters", [{}, FILTERED], ids=["unfiltered", "filtered"])
async def test_sales_panels_match_pandas(
    seeded_db: Database, raw: dict[str, pd.DataFrame], filters: dict[str, Any]
) -> None:
    result, checked = await _overview(seeded_db, filters)
    sales = _sales(raw, checked)

    monthly = to_frame(result["monthly_revenue"])
    months = sales["sold_at"].dt.tz_localize(None).dt.to_period("M").dt.start_time
    expected = sales.groupby(months.dt.tz_localize("UTC"))["price"].agg(["count", "sum", "mean"])
    assert monthly["month"].tolist() == list(expected.index)
    assert monthly["sales"].tolist() == expected["count"].tolist()
    assert monthly["revenue"].tolist() == pytest.approx(expected["sum"].tolist())
    assert monthly["average_price"].tolist() == pytest.approx(expected["mean"].tolist())

    top = to_frame(result["top_artists"])
    works = raw["artworks"][["id", "artist_id"]].rename(columns={"id": "artwork_id"})
    per_artist = (
        sales.merge(works, on="artwork_id")
        .merge(raw["artists"][["id", "name"]], left_on="artist_id", right_on="id")
        .groupby(["artist_id", "name"])["price"]
        .agg(["count", "sum"])
        .reset_index()
        .sort_values(["sum", "name"], ascending=[False, True])
    )
    best = per_artist.head(10)
    assert top["artist_id"].tolist() == best["artist_id"].tolist()
    assert top["revenue"].tolist() == pytest.approx(best["sum"].tolist())
    assert top["sales"].tolist() == best["count"].tolist()
    assert top["share"].tolist() == pytest.approx((best["sum"] / per_artist["sum"].sum()).tolist())
    assert top["rank"].iloc[0] == 1

    figures = to_frame(result["key_figures"]).iloc[0]
    assert figures["revenue"] == pytest.approx(sales["price"].sum())


@pytest.mark.parametrize("filters", [{}, FILTERED], ids=["unfiltered", "filtered"])
async def test_collection_panels_match_pandas(
    seeded_db: Database, raw: dict[str, pd.DataFrame], filters: dict[str, Any]
) -> None:
    result, checked = await _overview(seeded_db, filters)
    works = _works(raw, checked)
    works = works[_in_range(works["acquired_at"], checked)]

    by_medium = to_frame(result["artworks_by_medium_status"])
    expected = (
        works.groupby(["medium", "status"])
        .agg(artworks=("id", "size"), list_value=("list_price", "sum"))
        .reset_index()
    )
    got = (
        by_medium.assign(status=by_medium["status"].astype(str))
        .sort_values(["medium", "status"])
        .reset_index(drop=True)
    )
    expected = expected.sort_values(["medium", "status"]).reset_index(drop=True)
    assert got["medium"].tolist() == expected["medium"].tolist()
    assert got["status"].tolist() == expected["status"].tolist()
    assert got["artworks"].tolist() == expected["artworks"].tolist()
    assert got["list_value"].tolist() == pytest.approx(expected["list_value"].tolist())

    per_year = to_frame(result["acquisitions_per_year"])
    expected_years = works.groupby(works["acquired_at"].dt.year).size()
    assert per_year["year"].tolist() == expected_years.index.tolist()
    assert per_year["artworks"].tolist() == expected_years.tolist()

    artists = to_frame(result["artists_by_nationality_gender"])
    makers = raw["artists"]
    if filters:
        makers = makers[makers["id"].isin(works["artist_id"])]
    counts = (
        makers.fillna({"nationality": "Unknown", "gender": "unknown"})
        .groupby(["nationality", "gender"])
        .size()
    )
    got_counts = artists.set_index(["nationality", "gender"])["artists"]
    assert got_counts.sort_index().to_dict() == counts.sort_index().to_dict()
    assert artists["artists"].is_monotonic_decreasing

    assert to_frame(result["key_figures"]).iloc[0]["artworks"] == len(works)


@pytest.mark.parametrize("filters", [{}, FILTERED], ids=["unfiltered", "filtered"])
async def test_attendance_panel_matches_pandas(
    seeded_db: Database, raw: dict[str, pd.DataFrame], filters: dict[str, Any]
) -> None:
    result, checked = await _overview(seeded_db, filters)
    visits = raw["exhibition_visits"]
    days = pd.to_datetime(visits["day"])
    if checked.start is not None:
        visits = visits[days >= pd.Timestamp(checked.start)]
    if checked.end is not None:
        visits = visits[pd.to_datetime(visits["day"]) <= pd.Timestamp(checked.end)]
    if checked.mediums:
        shown = raw["exhibition_artworks"].merge(
            raw["artworks"][["id", "medium"]], left_on="artwork_id", right_on="id"
        )
        shows = shown[shown["medium"].isin(checked.mediums)]["exhibition_id"]
        visits = visits[visits["exhibition_id"].isin(shows)]
    day = pd.to_datetime(visits["day"])
    week = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    expected = visits.groupby(week).agg(
        visitors=("visitors", "sum"), shows=("exhibition_id", "nunique")
    )

    weekly = to_frame(result["exhibition_attendance"])
    assert weekly["week"].tolist() == expected.index.tolist()
    assert weekly["visitors"].tolist() == expected["visitors"].tolist()
    assert weekly["exhibitions_open"].tolist() == expected["shows"].tolist()
    if filters:
        figures = to_frame(result["key_figures"]).iloc[0]
        assert figures["visitors"] == visits["visitors"].sum()
        exhibitions = raw["exhibitions"]
        overlapping = (pd.to_datetime(exhibitions["starts_on"]) <= pd.Timestamp(checked.end)) & (
            pd.to_datetime(exhibitions["ends_on"]) >= pd.Timestamp(checked.start)
        )
        shown = raw["exhibition_artworks"].merge(
            raw["artworks"][["id", "medium"]], left_on="artwork_id", right_on="id"
        )
        showing = exhibitions["id"].isin(
            shown[shown["medium"].isin(checked.mediums)]["exhibition_id"]
        )
        assert figures["active_exhibitions"] == (overlapping & showing).sum()


async def test_user_filter_restricts_every_panel(
    seeded_db: Database, raw: dict[str, pd.DataFrame]
) -> None:
    user_id = raw["artworks"]["owner_id"].value_counts().index[0]
    result, _checked = await _overview(seeded_db, {"user_id": user_id})
    owned = raw["artworks"][raw["artworks"]["owner_id"] == user_id]
    assert to_frame(result["artworks_by_medium_status"])["artworks"].sum() == len(owned)
    managed = raw["artists"][raw["artists"]["owner_id"] == user_id]
    assert to_frame(result["artists_by_nationality_gender"])["artists"].sum() == len(managed)
    curated = raw["exhibitions"][raw["exhibitions"]["curator_id"] == user_id]["id"]
    visits = raw["exhibition_visits"]
    expected = visits[visits["exhibition_id"].isin(curated)]["visitors"].sum()
    assert to_frame(result["exhibition_attendance"])["visitors"].sum() == expected


async def test_rare_mediums_fold_into_other(
    seeded_db: Database, raw: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(overview, "TOP_MEDIUMS", 3)
    # refresh: a cached result of the unpatched query must not answer for the patched one.
    result = await DashboardService(seeded_db).get_gallery_overview(refresh=True)
    frame = to_frame(result["artworks_by_medium_status"])
    top3 = raw["artworks"]["medium"].value_counts().head(3).index.tolist()
    assert list(dict.fromkeys(frame["medium"])) == [*top3, "Other"]
    assert frame["artworks"].sum() == len(raw["artworks"])


async def test_empty_selection_gives_empty_panels(seeded_db: Database) -> None:
    result = await DashboardService(seeded_db).get_gallery_overview(
        {"start": "1990-01-01", "end": "1990-12-31"}
    )
    assert not result.failed
    monthly = to_frame(result["monthly_revenue"])
    assert monthly.empty
    assert list(monthly.columns) == ["month", "sales", "revenue", "average_price"]
    assert str(monthly["month"].dtype) == "datetime64[us, UTC]"
    assert to_frame(result["key_figures"]).iloc[0]["revenue"] == 0


async def test_panel_results_carry_timings_and_row_counts(seeded_db: Database) -> None:
    result = await DashboardService(seeded_db).get_gallery_overview()
    assert list(result.panels) == [panel.name for panel in PANELS]  # registry order
    assert len(result.panels) >= 6
    for panel in result.panels.values():
        assert panel.ok
        assert panel.row_count == len(panel.rows) > 0
        assert 0 < panel.wall_seconds <= result.wall_seconds
    sequential = await DashboardService(seeded_db).get_gallery_overview(parallel=False)
    assert not sequential.parallel
    assert {n: p.rows for n, p in sequential.panels.items()} == {
        n: p.rows for n, p in result.panels.items()
    }


# -- the registry against the database -------------------------------------------------------

_PYTHON_TYPES: dict[Kind, tuple[type, ...]] = {
    Kind.INT: (int,),
    Kind.FLOAT: (float,),
    Kind.STRING: (str,),
    Kind.CATEGORY: (str,),
    Kind.TIMESTAMPTZ: (dt.datetime,),
    Kind.DATE: (dt.date,),
}


@pytest.mark.parametrize("panel", PANELS, ids=[panel.name for panel in PANELS])
async def test_every_panel_returns_the_columns_it_declares(
    seeded_db: Database, panel: Panel
) -> None:
    """The declared columns are what the query returns: names in order, and each value of
    the declared kind (an INT column never brings floats or Decimals, a DATE column never
    timestamps, a category only its declared levels)."""
    async with seeded_db.read_session() as session:
        result = await session.execute(panel.query(OverviewFilters(today=DEMO_TODAY)))
        names = list(result.keys())
        rows = [dict(row) for row in result.mappings()]
    assert names == [column.name for column in panel.columns]
    assert rows, "the demo data should give every panel rows"
    for column in panel.columns:
        values = [row[column.name] for row in rows if row[column.name] is not None]
        assert values, f"{panel.name}.{column.name} is always null in the demo data"
        wrong = {type(value).__name__ for value in values} - {
            kind.__name__ for kind in _PYTHON_TYPES[column.kind]
        }
        assert not wrong, f"{panel.name}.{column.name} ({column.kind}) holds {wrong}"
        if column.kind is Kind.TIMESTAMPTZ:
            assert all(value.tzinfo is not None for value in values)
        if column.categories:
            assert set(values) <= set(column.categories), (panel.name, column.name)


async def test_results_carry_the_currency_of_the_load_as_their_money_unit(
    seeded_db: Database,
) -> None:
    """Money columns are declared with a placeholder unit; a load fills in its currency,
    so a result (and its chart, and a table of it) says which currency it sums."""
    result = await DashboardService(seeded_db).get_gallery_overview(
        {"currency": "USD"}, panels=["monthly_revenue", "exhibition_attendance"]
    )
    revenue = {column.name: column for column in result["monthly_revenue"].columns}
    assert (revenue["revenue"].unit, revenue["average_price"].unit) == ("USD", "USD")
    assert revenue["sales"].unit == "sales"
    assert {column.unit for column in result["exhibition_attendance"].columns} == {
        "",
        "visitors",
        "exhibitions",
    }


async def test_the_summary_lists_the_top_artists_panel(seeded_db: Database) -> None:
    """`gallery-analytics summary` and the dashboards agree on "top artists by revenue"."""
    summary = await SummaryService(seeded_db).get_summary(on=dt.date(2024, 6, 1), top=5)
    panel = await DashboardService(seeded_db).get_gallery_overview(
        {"top_n": 5}, panels=["top_artists"]
    )
    top = to_frame(panel["top_artists"])
    assert [a.artist_id for a in summary.top_artists] == top["artist_id"].tolist()
    assert [a.name for a in summary.top_artists] == top["artist"].tolist()
    assert [float(a.revenue) for a in summary.top_artists] == pytest.approx(top["revenue"])
    assert {a.currency for a in summary.top_artists} == {"EUR"}
    first = summary.top_artists[0]
    assert f"    1. {first.name}: {first.revenue:,.2f} EUR" in summary.render()


def _sleeping_panel(name: str, seconds: float) -> Panel:
    return Panel(
        name,
        f"sleeps {seconds}s",
        (ColumnSpec("slept", Kind.STRING),),
        lambda _: select(cast(func.pg_sleep(seconds), String).label("slept")),
    )


BROKEN = Panel(
    "broken",
    "divides by zero",
    (ColumnSpec("x", Kind.INT),),
    lambda _: select((literal(1) / literal(0)).label("x")),
)


async def test_a_failing_panel_does_not_spoil_the_others(seeded_db: Database) -> None:
    result = await DashboardService(seeded_db).get_gallery_overview(
        panels=[BROKEN, "monthly_revenue", "top_artists"]
    )
    assert result["broken"].status == "error"
    assert "division by zero" in (result["broken"].error or "")
    assert result["monthly_revenue"].ok
    assert result["top_artists"].ok
    assert to_frame(result["broken"]).empty  # a failed panel still gives a typed frame
    assert seeded_db.pool_status()["checked_out"] == 0


async def test_a_slow_panel_times_out_alone(seeded_db: Database) -> None:
    service = DashboardService(seeded_db)
    started = asyncio.get_running_loop().time()
    result = await service.get_gallery_overview(
        panels=[_sleeping_panel("slow", 20), "monthly_revenue", "key_figures"],
        timeouts={"slow": 0.5},
    )
    assert asyncio.get_running_loop().time() - started < 5
    assert result["slow"].status == "timeout"
    assert "0.5 s budget" in (result["slow"].error or "")
    assert result["monthly_revenue"].ok
    assert result["key_figures"].ok
    await _assert_nothing_running(seeded_db)


async def _running_queries(db: Database) -> list[str]:
    async with db.read_session() as session:
        rows = await session.scalars(
            text(
                "SELECT query FROM pg_stat_activity WHERE application_name = :app "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            ),
            {"app": APPLICATION_NAME},
        )
        return list(rows)


async def _assert_nothing_running(db: Database) -> None:
    for _ in range(50):  # the server-side cancel request is asynchronous
        if not await _running_queries(db):
            break
        await asyncio.sleep(0.1)
    assert await _running_queries(db) == []
    assert db.pool_status()["checked_out"] == 0


async def test_cancelling_a_load_cancels_every_query(seeded_db: Database) -> None:
    service = DashboardService(seeded_db)
    panels = [_sleeping_panel(f"slow{i}", 30) for i in range(4)]
    load = asyncio.create_task(service.get_gallery_overview(panels=panels))
    for _ in range(100):
        if len(await _running_queries(seeded_db)) == 4:
            break
        await asyncio.sleep(0.05)
    assert len(await _running_queries(seeded_db)) == 4
    load.cancel()
    with pytest.raises(asyncio.CancelledError):
        await load
    await _assert_nothing_running(seeded_db)


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"start": "2024-05-01", "end": "2024-04-01"}, "end"),
        ({"mediums": ["Oil on canvas", "Moon rock"]}, "mediums"),
        ({"status": "stolen"}, "status"),
        ({"user_id": "not-a-uuid"}, "user_id"),
        ({"user_id": "00000000-0000-4000-8000-000000000000"}, "user_id"),
        ({"start": "yesterday"}, "start"),
        ({"currency": "euro"}, "currency"),
        ({"top_n": 0}, "top_n"),
        ({"colour": "blue"}, "colour"),
        ({"mediums": [""]}, "mediums.0"),
        ("start=2024", "filters"),
    ],
)
async def test_bad_filters_name_the_field(seeded_db: Database, filters: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await DashboardService(seeded_db).get_gallery_overview(filters)
    assert caught.value.field == field
    assert len(str(caught.value)) < 300


async def test_unknown_medium_message_names_it(seeded_db: Database) -> None:
    with pytest.raises(ValidationError, match="unknown medium 'Moon rock'"):
        await DashboardService(seeded_db).get_gallery_overview({"mediums": "Moon rock"})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"panels": ["nope"]}, "panels"),
        ({"panels": []}, "panels"),
        ({"timeouts": {"monthly_revenue": -1}}, "timeouts.monthly_revenue"),
        ({"timeouts": {"top_artist": 5}}, "timeouts"),  # a typo in a panel name
    ],
)
async def test_bad_options_name_the_field(
    seeded_db: Database, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await DashboardService(seeded_db).get_gallery_overview(**kwargs)
    assert caught.value.field == field


async def test_user_dashboard(seeded_db: Database, raw: dict[str, pd.DataFrame]) -> None:
    user_id = raw["exhibitions"]["curator_id"].value_counts().index[0]
    on = dt.date(2024, 6, 1)
    dashboard = await DashboardService(seeded_db).get_user_dashboard(user_id, on=on)
    assert dashboard.user.id == user_id
    assert {a.id for a in dashboard.artists} == set(
        raw["artists"][raw["artists"]["owner_id"] == user_id]["id"]
    )
    assert {w.id for w in dashboard.artworks} == set(
        raw["artworks"][raw["artworks"]["owner_id"] == user_id]["id"]
    )
    shows = raw["exhibitions"]
    open_shows = shows[
        (shows["curator_id"] == user_id) & (shows["starts_on"] <= on) & (shows["ends_on"] >= on)
    ]
    assert {s.id for s in dashboard.active_exhibitions} == set(open_shows["id"])
    frame = to_frame(dashboard.artworks)
    assert frame["status"].dtype == "category"
    assert frame["list_price"].dtype == "float64"
    assert str(frame["acquired_at"].dtype) == "datetime64[us, UTC]"


async def test_user_dashboard_errors(seeded_db: Database) -> None:
    service = DashboardService(seeded_db)
    with pytest.raises(NotFoundError):
        await service.get_user_dashboard("00000000-0000-4000-8000-000000000000")
    with pytest.raises(ValidationError, match=r"^user_id: "):
        await service.get_user_dashboard("42")
    assert seeded_db.pool_status()["checked_out"] == 0
