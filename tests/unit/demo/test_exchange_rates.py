"""The demo's exchange rates (issue 12, item 5): a plausible rate for every currency its
sales use, for every month of its calendar, from the seed alone."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from gallery_analytics.db.models import RATE_BASE_CURRENCY
from gallery_analytics.demo import vocabulary as vocab
from gallery_analytics.demo.generate import DEMO_TODAY, SIZES, generate_demo_data


@pytest.fixture(scope="module")
def small() -> dict[str, pa.Table]:
    return generate_demo_data(SIZES["small"], 42)


def test_every_sale_and_acquisition_month_has_a_rate(small: dict[str, pa.Table]) -> None:
    rates = small["exchange_rates"].to_pandas()
    assert not rates.duplicated(["currency", "month"]).any()
    assert set(rates["currency"]) == {code for code, _ in vocab.CURRENCIES} - {RATE_BASE_CURRENCY}
    known = set(zip(rates["currency"], rates["month"], strict=True))
    sales = small["sales"].to_pandas()
    months = sales["sold_at"].dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.date
    for code, month in zip(sales["currency"], months, strict=True):
        assert code == RATE_BASE_CURRENCY or (code, month) in known
    works = small["artworks"].to_pandas()
    acquired = works["acquired_at"].dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.date
    for code in set(rates["currency"]):
        assert {(code, month) for month in acquired} <= known
    assert rates["month"].max() == DEMO_TODAY.replace(day=1)
    assert all(month.day == 1 for month in rates["month"])


def test_rates_are_plausible_and_move(small: dict[str, pa.Table]) -> None:
    rates = small["exchange_rates"].to_pandas()
    for code, group in rates.groupby("currency"):
        level = 1 / vocab.EUR_TO[str(code)]
        assert group["rate"].between(level * 0.7, level * 1.3).all(), code
        monthly = group.sort_values("month")["rate"].pct_change().abs().dropna()
        assert monthly.max() < 0.15, code  # no jumps
        assert group["rate"].nunique() > len(group) // 2, code  # not a constant


def test_same_seed_same_rates() -> None:
    first = generate_demo_data(SIZES["small"], 7)
    again = generate_demo_data(SIZES["small"], 7)
    assert first["exchange_rates"].equals(again["exchange_rates"])
    other = generate_demo_data(SIZES["small"], 8)
    assert not first["exchange_rates"].equals(other["exchange_rates"])
    frame = first["exchange_rates"].to_pandas()
    assert frame["month"].min() == dt.date(2005, 1, 1)
