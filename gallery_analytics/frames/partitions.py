"""One result read by N connections at once, consistent as of one moment.

How: a pooled read connection opens a ``REPEATABLE READ`` transaction and exports its
snapshot (``pg_export_snapshot()``, what ``pg_dump --jobs`` uses). Under that snapshot
it computes N-1 bounds of the partition column (``percentile_disc``: equal shares of
rows even when the values are skewed; any type with an ordering). Each of N ADBC
connections imports the snapshot (``SET TRANSACTION SNAPSHOT``) and reads one range:
``c < b1`` (and the NULLs), ``b1 <= c < b2``, ..., ``c >= b(N-1)``. The ranges are
disjoint and cover every row, and all N see the same committed data, so the union
equals a single read of that moment while other sessions insert, update or delete.

The exporting transaction stays open only until every connection has imported the
snapshot (a snapshot can be imported only while its exporter's transaction lives).

Whether it is faster depends on cores: the server runs one backend per connection, so
on a machine with cores to spare the scans, the COPYs and the decoding run side by side.
On 2 cores, with the client and the server sharing them, it is not (measured in
``benchmarks/extract.py``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

import pyarrow as pa

from gallery_analytics.db.database import Database
from gallery_analytics.frames.arrow_stream import ArrowStream, open_stream
from gallery_analytics.frames.plan import ExtractPlan, plan_on


async def read_partitioned(
    db: Database,
    sql: str,
    args: Sequence[Any],
    *,
    partitions: int,
    partition_by: str,
    statement_timeout: float,
) -> tuple[ExtractPlan, list[pa.RecordBatch]]:
    """The plan and every batch of the result, partition after partition."""
    async with db.connection() as connection:
        url = connection.engine.url
        driver: Any = (await connection.get_raw_connection()).driver_connection
        # Begun before anything else runs on the connection: after asyncpg's prepare,
        # the server refuses to set an isolation level in the same implicit transaction.
        exporter = driver.transaction(isolation="repeatable_read", readonly=True)
        async with AsyncExitStack() as streams:
            await exporter.start()
            try:
                plan = await plan_on(driver, url, sql, args)
                column = plan.column_index(partition_by, field="partition_by")
                snapshot: str = await driver.fetchval("SELECT pg_export_snapshot()")
                bounds = await _bounds(driver, plan, column, partitions)
                # Every stream imports the snapshot while the exporter's transaction is
                # open; they read on after it ends.
                opened: list[ArrowStream] = list(
                    await asyncio.gather(
                        *(
                            streams.enter_async_context(
                                open_stream(
                                    plan,
                                    statement_timeout=statement_timeout,
                                    where=where,
                                    snapshot=snapshot,
                                )
                            )
                            for where in _ranges(
                                plan.alias(column), bounds, plan.type_names[column]
                            )
                        )
                    )
                )
            finally:
                await exporter.rollback()  # it wrote nothing: ending it is all that is left
            per_stream = await asyncio.gather(*(_drain(stream) for stream in opened))
    return plan, [batch for batches in per_stream for batch in batches]


async def _drain(stream: ArrowStream) -> list[pa.RecordBatch]:
    return [batch async for batch in stream]


async def _bounds(driver: Any, plan: ExtractPlan, column: int, partitions: int) -> list[str]:
    """N-1 distinct bounds of the column under the snapshot, as server-quoted literals."""
    fractions = [index / partitions for index in range(1, partitions)]
    alias = plan.alias(column)
    rows = await driver.fetch(
        f"SELECT quote_literal(b::text) FROM (SELECT DISTINCT b FROM unnest(("
        f"SELECT percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY {alias}) "
        f"FROM {plan.inner()})) AS b WHERE b IS NOT NULL) AS bounds ORDER BY b",
        fractions,
    )
    return [row[0] for row in rows]


def _ranges(alias: str, bounds: Sequence[str], type_name: str) -> list[str | None]:
    """Disjoint conditions covering every row (NULLs in the first)."""
    if not bounds:
        return [None]
    typed = [f"{bound}::{type_name}" for bound in bounds]
    conditions: list[str | None] = [f"{alias} IS NULL OR {alias} < {typed[0]}"]
    conditions += [
        f"{alias} >= {low} AND {alias} < {high}" for low, high in itertools.pairwise(typed)
    ]
    conditions.append(f"{alias} >= {typed[-1]}")
    return conditions
