"""The one sentence a money panel shows for what it left out for want of an exchange rate
(``services.dashboard.exclusion_note``), without a database."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gallery_analytics.services.dashboard import exclusion_note


def _row(code: str, month: dt.date | None, count: int, amount: str) -> dict[str, object]:
    return {"currency": code, "month": month, "count": count, "amount": Decimal(amount)}


def test_nothing_left_out_is_no_note() -> None:
    assert exclusion_note([], currency="EUR") is None


def test_the_issues_example() -> None:
    rows = [
        _row("USD", dt.date(2024, 3, 1), 7, "2000"),
        _row("USD", dt.date(2024, 4, 1), 5, "1400"),
    ]
    assert (
        exclusion_note(rows, currency="GBP")
        == "Excluded 12 sales (USD 3,400.00): no USD→GBP rate for 2024-03, 2024-04."
    )


def test_one_sale_several_currencies_ranges_and_thousands() -> None:
    assert (
        exclusion_note([_row("GBP", dt.date(2019, 12, 1), 1, "0.5")], currency="EUR")
        == "Excluded 1 sale (GBP 0.50): no GBP→EUR rate for 2019-12."
    )
    rows = [_row("USD", dt.date(2018, m, 1), 100, "1000.125") for m in range(1, 13)]
    rows += [_row("USD", dt.date(2019, 2, 1), 1, "1"), _row("EUR", dt.date(2019, 2, 1), 2, "3")]
    assert exclusion_note(rows, currency="CHF") == (
        "Excluded 1,203 sales (EUR 3.00, USD 12,002.50): no EUR→CHF rate for 2019-02; "
        "no USD→CHF rate for 2018-01 to 2018-12, 2019-02."
    )


def test_list_prices_and_undated_ones() -> None:
    rows = [_row("EUR", None, 2, "500"), _row("EUR", dt.date(2004, 12, 1), 1, "100")]
    assert exclusion_note(
        rows, currency="USD", one="artwork's list price", many="artworks' list prices"
    ) == (
        "Excluded 3 artworks' list prices (EUR 600.00): no EUR→USD rate for 2004-12 and "
        "for undated ones."
    )


@given(
    st.dictionaries(
        st.tuples(
            st.sampled_from(["USD", "GBP", "JPY"]),
            st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 1)).map(lambda d: d.replace(day=1)),
        ),
        st.tuples(st.integers(1, 10_000), st.decimals(0, 10**9, places=2)),
        min_size=1,
        max_size=30,
    )
)
def test_the_note_counts_every_row_and_names_every_month(
    rows: dict[tuple[str, dt.date], tuple[int, Decimal]],
) -> None:
    given_rows = [
        _row(code, month, count, str(amount)) for (code, month), (count, amount) in rows.items()
    ]
    note = exclusion_note(given_rows, currency="EUR")
    assert note is not None
    assert "\n" not in note
    assert note.endswith(".")
    total = sum(count for count, _ in rows.values())
    assert note.startswith(f"Excluded {total:,} sale")
    for code in {code for code, _ in rows}:
        amount = sum(a for (c, _), (_, a) in rows.items() if c == code)
        assert f"{code} {amount:,.2f}" in note
        clause = re.search(rf"no {code}→EUR rate for ([^;.]*)", note)
        assert clause is not None
        named: set[tuple[int, int]] = set()
        for part in clause.group(1).split(", "):
            first, _, last = part.partition(" to ")
            a = dt.date.fromisoformat(first + "-01")
            b = dt.date.fromisoformat((last or first) + "-01")
            named |= {
                (y, m)
                for y in range(a.year, b.year + 1)
                for m in range(1, 13)
                if (a.year, a.month) <= (y, m) <= (b.year, b.month)
            }
        assert named == {(m.year, m.month) for c, m in rows if c == code}
