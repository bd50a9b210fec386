"""A collection import bringing its own exchange rates (``--rates FILE.csv``, issue 12
item 5): the rates are validated like the other files (file, line, column, reason;
nothing written, not even the artists, when one is wrong), merged by (currency, month)
in the same transaction, and the money panels convert with them."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from gallery_analytics.db.database import Database
from gallery_analytics.errors import ImportValidationError
from gallery_analytics.frames import to_frame
from gallery_analytics.services.dashboard import DashboardService
from tests.conftest import run_cli
from tests.helpers import (
    SAMPLE_ARTISTS,
    SAMPLE_ARTWORKS,
    fetch_rows,
    import_sample,
    table_checksums,
)


async def _write(path: Path, rows: list[list[str]], header: tuple[str, ...] = ()) -> Path:
    """A rates CSV (written in a worker thread: async tests run under blockbuster)."""

    def write() -> Path:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header or ("currency", "month", "rate"))
            writer.writerows(rows)
        return path

    return await asyncio.to_thread(write)


async def _rates(db: Database) -> dict[tuple[str, dt.date], Decimal]:
    rows = await fetch_rows(db, "SELECT currency, month, rate FROM exchange_rates")
    return {(str(r["currency"]), r["month"]): Decimal(str(r["rate"])) for r in rows}


async def test_rates_are_imported_merged_and_used(empty_db: Database, tmp_path: Path) -> None:
    rates = await _write(
        tmp_path / "rates.csv",
        [["USD", "2024-03", "0.92"], ["CHF", "2024-03-01", "1.05"], ["EUR", "2024-03", "1"]],
    )
    report = await import_sample(empty_db, rates_csv=rates)
    assert report.rates == {"new": 3, "updated": 0, "unchanged": 0}
    assert "rates:    3 new, 0 updated, 0 unchanged" in report.summary()
    march = dt.date(2024, 3, 1)
    assert await _rates(empty_db) == {
        ("USD", march): Decimal("0.92"),
        ("CHF", march): Decimal("1.05"),
        ("EUR", march): Decimal("1"),
    }

    corrected = await _write(
        tmp_path / "rates2.csv", [["USD", "2024-03", "0.93"], ["CHF", "2024-03", "1.05"]]
    )
    again = await import_sample(empty_db, rates_csv=corrected)
    assert again.rates == {"new": 0, "updated": 1, "unchanged": 1}
    assert (await _rates(empty_db))[("USD", march)] == Decimal("0.93")
    assert await DashboardService(empty_db).list_currencies() == ["CHF", "EUR", "USD"]

    # A sale in USD that March is now worth 0.93 / 1.05 of its price in CHF.
    async with empty_db.driver_transaction(write=True) as connection:
        artwork = await connection.fetchval("SELECT id FROM artworks LIMIT 1")
        await connection.execute(
            "INSERT INTO sales (id, artwork_id, sold_at, price, currency) VALUES "
            "(gen_random_uuid(), $1, '2024-03-10 12:00+00', 1050, 'USD')",
            artwork,
        )
    overview = await DashboardService(empty_db).get_gallery_overview(
        {"start": "2024-03-01", "end": "2024-03-31", "currency": "CHF"},
        panels=["key_figures"],
    )
    assert to_frame(overview["key_figures"]).iloc[0]["revenue"] == pytest.approx(930.0)
    assert overview["key_figures"].notes == ()


BAD_RATES = [
    ["USD", "2024-03", "0.92"],  # line 2: fine
    ["usd", "2024-04", "0.92"],  # line 3
    ["USD", "2024-13", "0.92"],  # line 4
    ["USD", "2024-05", "-1"],  # line 5
    ["USD", "2024-06", "0"],  # line 6
    ["EUR", "2024-03", "1.2"],  # line 7
    ["USD", "2024-03-01", "0.95"],  # line 8: March again
    ["USD", "2024-07"],  # line 9
]


async def test_a_bad_rates_file_names_file_line_and_column_and_writes_nothing(
    empty_db: Database, tmp_path: Path
) -> None:
    rates = await _write(tmp_path / "rates.csv", BAD_RATES)
    before = await table_checksums(empty_db)
    with pytest.raises(ImportValidationError) as caught:
        await import_sample(empty_db, rates_csv=rates)
    message = str(caught.value)
    for expected in (
        "rates.csv, line 3, column currency: expected a currency code such as USD, got 'usd'",
        "rates.csv, line 4, column month: expected a month such as 2024-03 (or its first "
        "day, 2024-03-01), got '2024-13'",
        "rates.csv, line 5, column rate: expected a positive number such as 0.92",
        "rates.csv, line 6, column rate: expected a positive number such as 0.92",
        "rates.csv, line 7, column rate: EUR is the currency rates are quoted in; its rate "
        "is 1, got 1.2",
        "rates.csv, line 8, column month: USD already has a rate for this month (line 2)",
        "rates.csv, line 9, column rate: missing field: the header has 3 columns, this row has 2",
    ):
        assert expected in message, message
    assert "rates.csv, line 2" not in message
    assert "nothing was written" in message
    # Nothing half-written: not the valid rate, nor the (valid) artists and artworks.
    assert await table_checksums(empty_db) == before


async def test_a_rates_file_without_its_columns_is_refused(
    empty_db: Database, tmp_path: Path
) -> None:
    rates = await _write(tmp_path / "rates.csv", [["USD", "0.92"]], header=("currency", "rate"))
    with pytest.raises(ImportValidationError, match=r"rates\.csv, line 1, column month: required"):
        await import_sample(empty_db, rates_csv=rates)


async def test_skip_invalid_imports_the_good_rates_and_rejects_the_others(
    empty_db: Database, tmp_path: Path
) -> None:
    rates = await _write(tmp_path / "rates.csv", BAD_RATES[:3])
    rejects = tmp_path / "rejects.csv"
    report = await import_sample(empty_db, rates_csv=rates, skip_invalid=True, rejects_path=rejects)
    assert report.rates == {"new": 1, "updated": 0, "unchanged": 0}
    assert report.rejected == 2
    assert list(await _rates(empty_db)) == [("USD", dt.date(2024, 3, 1))]
    written = await asyncio.to_thread(rejects.read_text, encoding="utf-8")
    assert "rates.csv,3,currency,row rejected" in written
    assert "rates.csv,4,month,row rejected" in written


def test_cli_import_rates(empty_db: Database, tmp_path: Path) -> None:
    good = tmp_path / "rates.csv"
    good.write_text("currency,month,rate\nUSD,2024-03,0.92\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("currency,month,rate\nUSD,2024-03,lots\n", encoding="utf-8")
    arguments = ["import", "--artists", str(SAMPLE_ARTISTS), "--artworks", str(SAMPLE_ARTWORKS)]
    refused = run_cli(*arguments, "--rates", str(bad), "--no-progress", database_url=empty_db.url)
    assert refused.returncode == 2, refused.stderr
    assert "bad.csv, line 2, column rate: expected a positive number" in refused.stderr
    missing = run_cli(*arguments, "--rates", str(tmp_path / "nope.csv"), database_url=empty_db.url)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: rates: no such file")
    done = run_cli(*arguments, "--rates", str(good), "--no-progress", database_url=empty_db.url)
    assert done.returncode == 0, done.stderr
    assert "rates:    1 new, 0 updated, 0 unchanged" in done.stdout
