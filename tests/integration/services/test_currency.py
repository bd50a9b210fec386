"""Money in a chosen currency (issue 12, item 5): every sale converted at its month's
exchange rate, checked against pandas over the generator's raw sales and rates; a sale
that has no rate is left out of every money figure and said so, in the same words, by
each panel, the key figures and the summary; the currencies one can pick.

Before this, revenue summed the sales already in the chosen currency and dropped the
others without a word (2,393 of 15,903 sales in medium 2024 data).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gallery_analytics.db.database import Database
from gallery_analytics.demo.generate import SIZES, generate_demo_data
from gallery_analytics.frames import to_frame
from gallery_analytics.panels import PANELS
from gallery_analytics.services.dashboard import DashboardService
from gallery_analytics.services.summary import SummaryService

MONEY_PANELS = ("key_figures", "monthly_revenue", "top_artists")
LIST_PRICE_PANELS = ("artworks_by_medium_status", "acquisitions_per_year")
YEAR_2024 = {"start": dt.date(2024, 1, 1), "end": dt.date(2024, 12, 31)}


@pytest.fixture(scope="module")
def raw() -> dict[str, pd.DataFrame]:
    """Sales and rates of the small demo dataset (seed 42), straight from the generator."""
    tables: dict[str, pa.Table] = generate_demo_data(SIZES["small"], 42)
    return {name: tables[name].to_pandas() for name in ("sales", "exchange_rates", "artworks")}


def _months(sold_at: pd.Series) -> pd.Series:
    return sold_at.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.date


def expected_sales(
    raw: dict[str, pd.DataFrame],
    currency: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    missing: frozenset[tuple[str, dt.date]] = frozenset(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(converted, excluded): the sales of the period with ``amount`` in ``currency``,
    and those that have no rate, computed here from the raw rows (``missing``: the
    (currency, month) rates a test deleted). One unit of EUR is worth 1 EUR."""
    sales = raw["sales"].copy()
    if start is not None:
        sales = sales[sales["sold_at"] >= pd.Timestamp(start, tz="UTC")]
    if end is not None:
        sales = sales[sales["sold_at"] < pd.Timestamp(end + dt.timedelta(days=1), tz="UTC")]
    sales["month"] = _months(sales["sold_at"])
    rates = {
        (code, month): rate
        for code, month, rate in raw["exchange_rates"][["currency", "month", "rate"]].itertuples(
            index=False
        )
        if (code, month) not in missing
    }

    def worth(code: str, month: dt.date) -> float | None:
        return 1.0 if code == "EUR" else rates.get((code, month))

    amounts = []
    for code, month, price in sales[["currency", "month", "price"]].itertuples(index=False):
        if code == currency:
            amounts.append(float(price))
            continue
        source, target = worth(code, month), worth(currency, month)
        amounts.append(None if source is None or target is None else price * source / target)
    sales["amount"] = pd.array(amounts, dtype="Float64")
    return sales[sales["amount"].notna()], sales[sales["amount"].isna()]


def expected_list_prices(
    raw: dict[str, pd.DataFrame],
    currency: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    missing: frozenset[tuple[str, dt.date]] = frozenset(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(converted, excluded) artworks of the period: ``amount`` is the list price (EUR)
    in ``currency`` at the acquisition month's rate."""
    works = raw["artworks"].copy()
    if start is not None:
        works = works[works["acquired_at"] >= pd.Timestamp(start, tz="UTC")]
    if end is not None:
        works = works[works["acquired_at"] < pd.Timestamp(end + dt.timedelta(days=1), tz="UTC")]
    works["month"] = _months(works["acquired_at"])
    rates = {
        (code, month): rate
        for code, month, rate in raw["exchange_rates"][["currency", "month", "rate"]].itertuples(
            index=False
        )
        if (code, month) not in missing
    }
    amounts = [
        float(price)
        if currency == "EUR"
        else (None if (currency, month) not in rates else price / rates[(currency, month)])
        for price, month in works[["list_price", "month"]].itertuples(index=False)
    ]
    works["amount"] = pd.array(amounts, dtype="Float64")
    works["price"] = works["list_price"]
    works["currency"] = "EUR"
    return works[works["amount"].notna()], works[works["amount"].isna()]


def _check_list_values(result: Any, works: pd.DataFrame) -> None:
    by_medium = to_frame(result["artworks_by_medium_status"])
    assert by_medium["list_value"].sum() == pytest.approx(float(works["amount"].sum()))
    per_year = to_frame(result["acquisitions_per_year"])
    expected = works.groupby(works["acquired_at"].dt.year)["amount"].sum().astype(float)
    assert per_year["list_value"].tolist() == pytest.approx(expected.tolist())


def expected_note(
    excluded: pd.DataFrame, currency: str, *, one: str = "sale", many: str = "sales"
) -> str:
    """The note, written out independently of the service's sentence."""
    parts, reasons = [], []
    for code, group in sorted(excluded.groupby("currency"), key=lambda item: str(item[0])):
        parts.append(f"{code} {Decimal(int(group['price'].sum())):,.2f}")
        reasons.append(f"no {code}→{currency} rate for {_listed(set(group['month']))}")
    count = len(excluded)
    return (
        f"Excluded {count:,} {one if count == 1 else many} ({', '.join(parts)}): "
        f"{'; '.join(reasons)}."
    )


def _listed(months: set[dt.date]) -> str:
    """Months in order; a run of three or more consecutive ones as "first to last"."""
    runs: list[list[dt.date]] = []
    for month in sorted(months):
        previous = runs[-1][-1] if runs else None
        if (
            previous is not None
            and (month.year * 12 + month.month) - (previous.year * 12 + previous.month) == 1
        ):
            runs[-1].append(month)
        else:
            runs.append([month])
    words = []
    for run in runs:
        if len(run) >= 3:
            words.append(f"{run[0]:%Y-%m} to {run[-1]:%Y-%m}")
        else:
            words.extend(f"{month:%Y-%m}" for month in run)
    return ", ".join(words)


async def _delete_rates(db: Database, pairs: list[tuple[str, dt.date]]) -> None:
    async with db.driver_transaction(write=True) as connection:
        for code, month in pairs:
            await connection.execute(
                "DELETE FROM exchange_rates WHERE currency = $1 AND month = $2", code, month
            )


def _check_panels(result: Any, raw: dict[str, pd.DataFrame], converted: pd.DataFrame) -> None:
    """The three money figures against pandas over ``converted`` (``amount`` column)."""
    monthly = to_frame(result["monthly_revenue"])
    by_month = converted.groupby("month")["amount"].agg(["count", "sum"])
    assert [ts.date() for ts in monthly["month"]] == list(by_month.index)
    assert monthly["sales"].tolist() == by_month["count"].tolist()
    assert monthly["revenue"].tolist() == pytest.approx(by_month["sum"].astype(float).tolist())

    works = raw["artworks"][["id", "artist_id"]]
    per_artist = (
        converted.merge(works, left_on="artwork_id", right_on="id")
        .groupby("artist_id")["amount"]
        .agg(["count", "sum"])
    )
    top = to_frame(result["top_artists"])
    assert len(top) == min(10, len(per_artist))
    for artist, revenue, sales in top[["artist_id", "revenue", "sales"]].itertuples(index=False):
        hexed = artist.replace("-", "")
        assert revenue == pytest.approx(float(per_artist.loc[hexed, "sum"]))
        assert sales == per_artist.loc[hexed, "count"]
    best = per_artist["sum"].astype(float).sort_values(ascending=False).head(len(top))
    assert top["revenue"].tolist() == pytest.approx(best.tolist())

    figures = to_frame(result["key_figures"]).iloc[0]
    assert figures["revenue"] == pytest.approx(float(converted["amount"].sum()))


@pytest.mark.parametrize("currency", ["EUR", "USD", "GBP"])
@pytest.mark.parametrize("period", [{}, YEAR_2024], ids=["all-time", "2024"])
async def test_money_panels_convert_every_sale_at_its_months_rate(
    seeded_db: Database, raw: dict[str, pd.DataFrame], currency: str, period: dict[str, Any]
) -> None:
    """Every demo sale has a rate: all of them are summed, converted, and no note."""
    result = await DashboardService(seeded_db).get_gallery_overview(
        {**period, "currency": currency}
    )
    assert not result.failed, result.failed
    converted, excluded = expected_sales(raw, currency, **period)
    assert excluded.empty
    assert set(converted["currency"]) == {"EUR", "USD", "GBP"}  # none dropped
    _check_panels(result, raw, converted)
    works, unpriced = expected_list_prices(raw, currency, **period)
    assert unpriced.empty
    _check_list_values(result, works)
    for panel in PANELS:
        assert result[panel.name].notes == (), panel.name
        assert {column.unit for column in result[panel.name].columns if column.is_money} <= {
            currency
        }


async def test_missing_rates_exclude_exactly_those_sales_and_say_so(
    fresh_db: Database, raw: dict[str, pd.DataFrame]
) -> None:
    """USD rates missing for March and April 2024, GBP's for July: shown in GBP, the USD
    sales of March and April and every non-GBP sale of July are left out of each money
    figure, which says so in one sentence; nothing else is left out."""
    missing = [
        ("USD", dt.date(2024, 3, 1)),
        ("USD", dt.date(2024, 4, 1)),
        ("GBP", dt.date(2024, 7, 1)),
    ]
    await _delete_rates(fresh_db, missing)
    result = await DashboardService(fresh_db).get_gallery_overview({**YEAR_2024, "currency": "GBP"})
    assert not result.failed, result.failed
    converted, excluded = expected_sales(raw, "GBP", **YEAR_2024, missing=frozenset(missing))
    assert set(excluded["currency"]) == {"EUR", "USD"}
    assert len(excluded) > 0
    note = expected_note(excluded, "GBP")
    assert "no EUR→GBP rate for 2024-07;" in note
    assert "no USD→GBP rate for 2024-03, 2024-04, 2024-07." in note
    _check_panels(result, raw, converted)
    # List prices (EUR) of works acquired in July 2024 have no EUR→GBP rate either.
    works, unpriced = expected_list_prices(raw, "GBP", **YEAR_2024, missing=frozenset(missing))
    assert len(unpriced) > 0
    assert set(unpriced["month"]) == {dt.date(2024, 7, 1)}
    _check_list_values(result, works)
    list_note = expected_note(
        unpriced, "GBP", one="artwork's list price", many="artworks' list prices"
    )
    assert list_note.endswith("): no EUR→GBP rate for 2024-07.")
    for panel in PANELS:
        expected = (
            (note,)
            if panel.name in MONEY_PANELS
            else (list_note,)
            if panel.name in LIST_PRICE_PANELS
            else ()
        )
        assert result[panel.name].notes == expected, panel.name


async def test_a_currency_without_rates_keeps_its_own_sales_and_names_the_rest(
    fresh_db: Database, raw: dict[str, pd.DataFrame]
) -> None:
    """No USD rate at all: in USD, only the USD sales are summed (as they are), and the
    note names every EUR and GBP month it could not convert, as ranges."""
    async with fresh_db.driver_transaction(write=True) as connection:
        await connection.execute("DELETE FROM exchange_rates WHERE currency = 'USD'")
    period = {"start": dt.date(2024, 1, 1), "end": dt.date(2024, 6, 30)}
    result = await DashboardService(fresh_db).get_gallery_overview({**period, "currency": "USD"})
    every_usd_rate = frozenset(
        ("USD", month) for month in raw["exchange_rates"]["month"].drop_duplicates()
    )
    converted, excluded = expected_sales(raw, "USD", **period, missing=every_usd_rate)
    assert set(converted["currency"]) == {"USD"}
    assert set(excluded["currency"]) == {"EUR", "GBP"}
    figures = to_frame(result["key_figures"]).iloc[0]
    assert figures["revenue"] == pytest.approx(float(converted["price"].sum()))
    note = expected_note(excluded, "USD")
    assert "no EUR→USD rate for 2024-01 to 2024-06;" in note  # EUR sells every month
    assert result["key_figures"].notes == (note,)


async def test_the_summary_says_what_its_top_artists_left_out(fresh_db: Database) -> None:
    """The summary ranks artists by revenue in EUR: a GBP month without a rate is left
    out of it and stated, in the dashboard's words, in the DTO and the rendered text."""
    async with fresh_db.read_session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT CAST(date_trunc('month', sold_at) AS date) AS month, count(*), "
                    "sum(price) FROM sales WHERE currency = 'GBP' GROUP BY 1 ORDER BY 2 DESC, 1 "
                    "LIMIT 1"
                )
            )
        ).one()
    month, count, amount = row[0], int(row[1]), Decimal(row[2])
    await _delete_rates(fresh_db, [("GBP", month)])
    summary = await SummaryService(fresh_db).get_summary()
    note = (
        f"Excluded {count:,} sale{'' if count == 1 else 's'} (GBP {amount:,.2f}): "
        f"no GBP→EUR rate for {month:%Y-%m}."
    )
    assert summary.notes == [note]
    assert f"note: {note}" in summary.render()


async def test_list_currencies_are_the_base_and_those_with_rates(
    fresh_db: Database, empty_db: Database
) -> None:
    assert await DashboardService(fresh_db).list_currencies() == ["EUR", "GBP", "USD"]
    assert await DashboardService(empty_db).list_currencies() == ["EUR"]
    async with fresh_db.driver_transaction(write=True) as connection:
        await connection.execute(
            "INSERT INTO exchange_rates (currency, month, rate) VALUES ('CHF', '2024-01-01', 1.05)"
        )
    assert await DashboardService(fresh_db).list_currencies() == ["CHF", "EUR", "GBP", "USD"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    removed=st.sets(
        st.tuples(
            st.sampled_from(["USD", "GBP"]),
            st.sampled_from([dt.date(2024, month, 1) for month in range(1, 13)]),
        ),
        max_size=6,
    ),
    currency=st.sampled_from(["EUR", "USD", "GBP"]),
)
async def test_summed_and_excluded_sales_always_add_up(
    fresh_db: Database,
    raw: dict[str, pd.DataFrame],
    removed: set[tuple[str, dt.date]],
    currency: str,
) -> None:
    """Whatever rates are missing: the sales summed plus the sales in the note are all
    the sales of the period, and both agree with pandas."""
    async with fresh_db.driver_transaction(write=True) as connection:
        saved = await connection.fetch("SELECT currency, month, rate FROM exchange_rates")
        for code, month in removed:
            await connection.execute(
                "DELETE FROM exchange_rates WHERE currency = $1 AND month = $2", code, month
            )
    try:
        result = await DashboardService(fresh_db).get_gallery_overview(
            {**YEAR_2024, "currency": currency}, panels=["monthly_revenue"]
        )
        converted, excluded = expected_sales(raw, currency, **YEAR_2024, missing=frozenset(removed))
        monthly = to_frame(result["monthly_revenue"])
        everything, _ = expected_sales(raw, currency, **YEAR_2024)
        assert len(converted) + len(excluded) == len(everything)
        assert int(monthly["sales"].sum()) == len(converted)
        assert monthly["revenue"].sum() == pytest.approx(float(converted["amount"].sum()))
        expected = () if excluded.empty else (expected_note(excluded, currency),)
        assert result["monthly_revenue"].notes == expected
    finally:
        async with fresh_db.driver_transaction(write=True) as connection:
            await connection.execute("DELETE FROM exchange_rates")
            await connection.executemany(
                "INSERT INTO exchange_rates (currency, month, rate) VALUES ($1, $2, $3)",
                [tuple(row) for row in saved],
            )


async def test_an_undated_list_price_converts_only_in_the_base_currency(
    fresh_db: Database,
) -> None:
    """A work with a list price and no acquisition date: in EUR its price counts; in USD
    no month says which rate to use, so it is left out and the note says so."""
    async with fresh_db.driver_transaction(write=True) as connection:
        await connection.execute(
            "INSERT INTO artworks (id, artist_id, owner_id, title, medium, list_price) "
            "SELECT gen_random_uuid(), id, owner_id, 'Undated', 'Photography', 1234.50 "
            "FROM artists ORDER BY id LIMIT 1"
        )
    service = DashboardService(fresh_db)
    panels = ["artworks_by_medium_status", "acquisitions_per_year"]
    in_euros = await service.get_gallery_overview({"currency": "EUR"}, panels=panels)
    assert all(result.notes == () for result in in_euros.panels.values())
    in_dollars = await service.get_gallery_overview({"currency": "USD"}, panels=panels)
    assert in_dollars["artworks_by_medium_status"].notes == (
        "Excluded 1 artwork's list price (EUR 1,234.50): no EUR→USD rate for undated ones.",
    )
    assert in_dollars["acquisitions_per_year"].notes == ()  # it counts dated works only
