"""Demo data: deterministic, loaded completely, replacing earlier data cleanly."""

from __future__ import annotations

from decimal import Decimal

import pyarrow.compute as pc
import pytest
from sqlalchemy import text

from gallery_analytics.db.database import Database
from gallery_analytics.demo.generate import DEMO_TODAY, SIZES, generate_demo_data
from gallery_analytics.demo.load import seed_demo
from gallery_analytics.errors import ValidationError
from gallery_analytics.services.summary import SummaryService
from tests.helpers import count_rows, table_checksums


async def test_same_seed_same_checksums_different_seed_different(
    empty_db: Database, seeded_db: Database
) -> None:
    reference = await table_checksums(seeded_db)  # the template: small, seed 42

    await seed_demo(empty_db, size="small", seed=7, progress=False)
    other = await table_checksums(empty_db)
    assert all(other[table] != reference[table] for table in reference)

    # Re-seeding replaces the earlier rows completely: nothing of seed 7 survives.
    await seed_demo(empty_db, size="small", seed=42, progress=False)
    assert await table_checksums(empty_db) == reference


async def test_seed_loads_every_generated_row(seeded_db: Database) -> None:
    generated = generate_demo_data(SIZES["small"], 42)
    for table, arrow_table in generated.items():
        assert await count_rows(seeded_db, table) == arrow_table.num_rows, table


async def test_seed_keeps_constraints_and_indexes(seeded_db: Database) -> None:
    """The loader drops foreign keys and indexes for speed; they must all be back."""
    async with seeded_db.read_session() as session:
        fks = await session.scalar(
            text("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated")
        )
        indexes = set(
            (
                await session.scalars(
                    text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
                )
            ).all()
        )
    assert fks == 8
    assert {"ix_artworks_medium_status", "ix_sales_sold_at", "ix_artists_owner_id"} <= indexes


async def test_summary_matches_the_generated_data(seeded_db: Database) -> None:
    """Counts and revenue computed in SQL agree with pyarrow over the generated tables."""
    generated = generate_demo_data(SIZES["small"], 42)
    summary = await SummaryService(seeded_db).get_summary(on=DEMO_TODAY)
    assert summary.counts["artworks"] == generated["artworks"].num_rows
    assert summary.counts["visitors"] == pc.sum(generated["exhibition_visits"]["visitors"]).as_py()
    by_currency = generated["sales"].group_by("currency").aggregate([("price", "sum")])
    expected = dict(
        zip(by_currency["currency"].to_pylist(), by_currency["price_sum"].to_pylist(), strict=True)
    )
    assert {line.currency: line.revenue for line in summary.revenue} == {
        currency: Decimal(total) for currency, total in expected.items()
    }
    starts = generated["exhibitions"]["starts_on"].to_pylist()
    ends = generated["exhibitions"]["ends_on"].to_pylist()
    assert summary.open_exhibitions == sum(
        1 for s, e in zip(starts, ends, strict=True) if s <= DEMO_TODAY <= e
    )
    assert "Gallery summary on 2025-11-15" in summary.render()


@pytest.mark.parametrize(
    ("size", "seed", "field"),
    [
        ("huge", 1, "size"),
        ("small", -1, "seed"),
        ("small", "42", "seed"),
        ("small", True, "seed"),
    ],
)
async def test_seed_rejects_bad_arguments(
    empty_db: Database, size: str, seed: object, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await seed_demo(empty_db, size=size, seed=seed, progress=False)  # type: ignore[arg-type]
    assert caught.value.field == field
