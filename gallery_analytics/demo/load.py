"""Bulk-load generated demo data with PostgreSQL COPY, replacing what was there.

Per-row foreign-key triggers and index updates dominate a million-row load, so in one
transaction we drop the foreign keys and secondary indexes of the gallery tables,
TRUNCATE, COPY every table (CSV encoded by pyarrow in a worker thread, streamed to the
server), then recreate the indexes and re-add the foreign keys, which PostgreSQL
validates with one join per key instead of one lookup per row. Any failure rolls the
whole transaction back: the previous data is still there, untouched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from tqdm.auto import tqdm

from gallery_analytics.db.database import Database
from gallery_analytics.demo.generate import (
    DEFAULT_SEED,
    DEMO_TODAY,
    SIZES,
    TABLE_ORDER,
    DemoSize,
    generate_demo_data,
)
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import ValidationError

_CHUNK_ROWS = 100_000
_LOAD_LOCK_KEY = 7_151_932
# A reload's statements are few and large (a COPY of a million sales, whose rollup
# triggers aggregate them; an index on a million rows), so they get a bound of their own
# instead of the interactive statement timeout.
LOAD_STATEMENT_TIMEOUT_SECONDS = 1800.0


@dataclass(slots=True)
class SeedReport:
    """What a seed run loaded and how long each phase took."""

    size: str
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    generate_seconds: float = 0.0
    load_seconds: float = 0.0

    @property
    def total_seconds(self) -> float:
        return self.generate_seconds + self.load_seconds

    def summary(self) -> str:
        counts = ", ".join(f"{count:,} {table}" for table, count in self.rows.items())
        return (
            f"seeded {self.size} demo data (seed {self.seed}) in {self.total_seconds:.1f} s "
            f"(generate {self.generate_seconds:.1f} s, load {self.load_seconds:.1f} s): {counts}"
        )


def resolve_size(size: str | DemoSize) -> DemoSize:
    """The demo size called ``size`` (``small``, ...), or a ValidationError listing them."""
    reject_awaitable(size, field="size")
    if isinstance(size, DemoSize):
        return size
    try:
        return SIZES[size]
    except KeyError:
        raise ValidationError(
            "size", f"expected one of {', '.join(SIZES)}, got {size!r}", value=size
        ) from None


async def seed_demo(
    db: Database,
    *,
    size: str | DemoSize = "small",
    seed: int = DEFAULT_SEED,
    progress: bool = True,
) -> SeedReport:
    """Replace all gallery data in ``db`` with a deterministic demo dataset."""
    # Before generating anything: `seed_demo(ga.connect())` failed only after the data
    # was generated and the progress bar had started.
    for name, value in (("db", db), ("size", size), ("seed", seed)):
        reject_awaitable(value, field=name)
    demo_size = resolve_size(size)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValidationError("seed", "expected a whole number from 0 to 2**63-1", value=seed)
    report = SeedReport(size=demo_size.name, seed=seed)
    started = time.perf_counter()
    # numpy/pyarrow work is CPU-bound: keep it off the event loop.
    tables = await asyncio.to_thread(generate_demo_data, demo_size, seed)
    report.generate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report.rows = await load_tables(
        db,
        tables,
        progress=progress,
        reference_date=DEMO_TODAY,
        description=f"demo data, size {demo_size.name}, seed {seed}",
    )
    report.load_seconds = time.perf_counter() - started
    return report


async def load_tables(
    db: Database,
    tables: dict[str, pa.Table],
    *,
    progress: bool = True,
    reference_date: dt.date | None = None,
    description: str = "loaded tables",
) -> dict[str, int]:
    """TRUNCATE the gallery tables and COPY ``tables`` into them, atomically.

    The dataset row is replaced in the same transaction: ``reference_date`` is the
    loaded data's "today" (None: the calendar's), see ``Database.today``.
    """
    reject_awaitable(db, field="db")
    reject_awaitable(tables, field="tables")
    unknown = set(tables) - set(TABLE_ORDER)
    if unknown:
        raise ValidationError("tables", f"unknown tables {sorted(unknown)}")
    total = sum(table.num_rows for table in tables.values())
    bar = tqdm(total=total, unit="rows", unit_scale=True, desc="loading", disable=not progress)
    try:
        # As the schema owner: the reload drops and re-adds constraints and indexes,
        # which the application's writer role may not do.
        async with db.admin_transaction(
            statement_timeout_seconds=max(
                LOAD_STATEMENT_TIMEOUT_SECONDS, db.settings.statement_timeout_seconds
            )
        ) as connection:
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOAD_LOCK_KEY)
            # Demo data is regenerated from its seed at will, so this one transaction
            # skips waiting for its WAL flush; imports and creates stay fully durable.
            await connection.execute("SET LOCAL synchronous_commit = off")
            constraints = await _foreign_keys(connection)
            indexes = await _secondary_indexes(connection)
            for table, name, _ in constraints:
                await connection.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                await connection.execute(f'DROP INDEX "{name}"')
            await connection.execute("TRUNCATE " + ", ".join(f'"{name}"' for name in TABLE_ORDER))
            for name in TABLE_ORDER:
                if name in tables:
                    bar.set_description(f"loading {name}")
                    await connection.copy_to_table(
                        name,
                        source=_csv_chunks(tables[name], bar.update),
                        columns=tables[name].column_names,
                        format="csv",
                    )
            bar.set_description("indexing")
            for _, definition in indexes:
                await connection.execute(definition)
            for table, name, definition in constraints:
                await connection.execute(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
                )
            await connection.execute(
                "INSERT INTO gallery_dataset (id, reference_date, description) "
                "VALUES (true, $1, $2) ON CONFLICT (id) DO UPDATE SET "
                "reference_date = excluded.reference_date, description = excluded.description, "
                "loaded_at = now()",
                reference_date,
                description,
            )
            for name in TABLE_ORDER:
                await connection.execute(f'ANALYZE "{name}"')
    finally:
        bar.close()
    return {name: tables[name].num_rows if name in tables else 0 for name in TABLE_ORDER}


async def _csv_chunks(table: pa.Table, advance: Callable[[int], Any]) -> AsyncIterator[bytes]:
    """CSV of ``table`` in slices, encoded in a worker thread while the previous one is sent."""
    for start in range(0, table.num_rows, _CHUNK_ROWS):
        chunk = table.slice(start, _CHUNK_ROWS)
        yield await asyncio.to_thread(_encode_csv, chunk)
        advance(chunk.num_rows)


def _encode_csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False))
    return sink.getvalue()


async def _foreign_keys(connection: Any) -> list[tuple[str, str, str]]:
    rows = await connection.fetch(
        """
        SELECT c.conrelid::regclass::text AS table_name, c.conname,
               pg_get_constraintdef(c.oid) AS definition
        FROM pg_constraint c
        WHERE c.contype = 'f'
          AND c.conrelid = ANY($1::regclass[])
        ORDER BY c.conname
        """,
        list(TABLE_ORDER),
    )
    return [(row["table_name"], row["conname"], row["definition"]) for row in rows]


async def _secondary_indexes(connection: Any) -> list[tuple[str, str]]:
    """Indexes that back no constraint (primary keys and unique constraints stay)."""
    rows = await connection.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index i
        WHERE i.indrelid = ANY($1::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        list(TABLE_ORDER),
    )
    return [(row["name"], row["definition"]) for row in rows]
