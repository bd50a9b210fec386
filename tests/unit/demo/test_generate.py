"""The demo generator, without a database: determinism and believable invariants."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gallery_analytics.demo.generate import (
    DEMO_TODAY,
    SIZES,
    TABLE_ORDER,
    generate_demo_data,
)


@pytest.fixture(scope="module")
def small() -> dict[str, pa.Table]:
    return generate_demo_data(SIZES["small"], 42)


def test_same_seed_gives_identical_tables(small: dict[str, pa.Table]) -> None:
    again = generate_demo_data(SIZES["small"], 42)
    assert list(again) == list(TABLE_ORDER)
    for name in TABLE_ORDER:
        assert again[name].equals(small[name]), name


def test_different_seed_gives_different_tables(small: dict[str, pa.Table]) -> None:
    other = generate_demo_data(SIZES["small"], 43)
    for name in TABLE_ORDER:
        assert not other[name].equals(small[name]), name


def test_sizes_match_the_specification(small: dict[str, pa.Table]) -> None:
    assert small["artists"].num_rows == 200
    assert small["artworks"].num_rows == 2_000
    assert SIZES["medium"].artists == 5_000
    assert SIZES["medium"].artworks == 100_000
    assert SIZES["large"].artworks == 1_000_000
    assert SIZES["large"].sales == 1_000_000


def test_ids_are_unique_and_references_resolve(small: dict[str, pa.Table]) -> None:
    for name in ("users", "artists", "artworks", "exhibitions", "sales"):
        ids = small[name]["id"]
        assert pc.count_distinct(ids).as_py() == len(ids), name
    references = [
        ("artists", "owner_id", "users"),
        ("artworks", "artist_id", "artists"),
        ("artworks", "owner_id", "users"),
        ("exhibitions", "curator_id", "users"),
        ("exhibition_artworks", "exhibition_id", "exhibitions"),
        ("exhibition_artworks", "artwork_id", "artworks"),
        ("sales", "artwork_id", "artworks"),
        ("exhibition_visits", "exhibition_id", "exhibitions"),
    ]
    for table, column, target in references:
        assert pc.all(pc.is_in(small[table][column], value_set=small[target]["id"])).as_py(), (
            table,
            column,
        )


def test_business_rules_hold(small: dict[str, pa.Table]) -> None:
    artists = small["artists"].to_pandas()
    alive_or_ok = artists["death_year"].isna() | (artists["death_year"] >= artists["birth_year"])
    assert alive_or_ok.all()

    shows = small["exhibitions"].to_pandas()
    assert (shows["ends_on"] >= shows["starts_on"]).all()

    sales = (
        small["sales"]
        .to_pandas()
        .merge(small["artworks"].to_pandas(), left_on="artwork_id", right_on="id")
    )
    assert (sales["sold_at"] >= sales["acquired_at"]).all()
    assert (sales["price"] >= 0).all()
    assert sales["sold_at"].max().date() <= DEMO_TODAY
    sold = set(
        small["artworks"].filter(pc.equal(small["artworks"]["status"], "sold"))["id"].to_pylist()
    )
    assert sold <= set(small["sales"]["artwork_id"].to_pylist())

    visits = small["exhibition_visits"].to_pandas()
    assert (visits["visitors"] >= 0).all()
    assert not visits.duplicated(["exhibition_id", "day"]).any()


def test_distributions_are_believable(small: dict[str, pa.Table]) -> None:
    visits = small["exhibition_visits"].to_pandas()
    by_weekday = visits.groupby(pd.to_datetime(visits["day"]).dt.day_of_week)["visitors"].mean()
    assert by_weekday[5] > 1.5 * by_weekday[0]  # Saturdays are busier than Mondays

    mediums = small["artworks"].to_pandas()["medium"].value_counts()
    assert mediums.index[0] == "Oil on canvas"  # the most common medium, about a fifth
    assert 0.15 < mediums.iloc[0] / mediums.sum() < 0.3

    sales = small["sales"].to_pandas()
    months = sales["sold_at"].dt.month.value_counts()
    assert months[10] > months[8]  # the autumn season beats the August lull

    prices = small["artworks"]["list_price"].to_numpy()
    assert np.median(prices) < np.mean(prices)  # long right tail, as art prices have


def test_nothing_depends_on_the_clock(small: dict[str, pa.Table]) -> None:
    assert small["exhibitions"]["starts_on"].to_pylist()[0] < dt.date.today()
    assert max(small["exhibition_visits"]["day"].to_pylist()) <= DEMO_TODAY
