"""One result read by N connections at once, consistent as of one moment.

How: a pooled read connection opens a ``REPEATABLE READ`` transaction and exports its
snapshot (``pg_export_snapshot()``, what ``pg_dump --jobs`` uses). Under that snapshot
it computes N-1 bounds of the partition column (even steps from the smallest to the
largest integer; for other orderable types ``percentile_disc``, equal shares of rows
even when the values are skewed). Each of N ADBC
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
import contextlib
import itertools
from collections.abc import Coroutine, Iterable, Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import asyncpg
import pyarrow as pa

from gallery_analytics.db.database import Database
from gallery_analytics.frames.arrow_stream import ArrowStream, open_stream
from gallery_analytics.frames.plan import ExtractPlan, plan_on

T = TypeVar("T")

_INTEGER_OIDS = frozenset({20, 21, 23})  # int8, int2, int4


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
                opened = await _together(
                    streams.enter_async_context(
                        open_stream(
                            plan,
                            statement_timeout=statement_timeout,
                            where=where,
                            snapshot=snapshot,
                        )
                    )
                    for where in _ranges(plan.alias(column), bounds, plan.type_names[column])
                )
            finally:
                # It wrote nothing: ending it is all that is left. (A broken connection
                # has ended it already; the error that broke it is the one to report.)
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    await exporter.rollback()
            per_stream = await _together(_drain(stream) for stream in opened)
    return plan, [batch for batches in per_stream for batch in batches]


async def _together(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run the coroutines at once; the first to fail cancels the others (each stream then
    stops its query and closes its connection) and its error is raised as it is.

    asyncio.TaskGroup does the cancelling; its ExceptionGroup is unwrapped, since callers
    expect the package's own errors (``gather`` would leave the others running)."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _drain(stream: ArrowStream) -> list[pa.RecordBatch]:
    return [batch async for batch in stream]


async def _bounds(driver: Any, plan: ExtractPlan, column: int, partitions: int) -> list[str]:
    """N-1 distinct bounds of the column under the snapshot, as server-quoted literals.

    Integers: even steps between the smallest and the largest value (one index lookup
    each, or one scan without sorting). Other types: ``percentile_disc``, which sorts the
    column (measured: about 0.4 s for 1M rows here), but finds equal shares of any
    orderable type, skewed or not."""
    alias = plan.alias(column)
    if plan.type_oids[column] in _INTEGER_OIDS:
        low, high = await driver.fetchrow(
            f"SELECT min({alias})::int8, max({alias})::int8 FROM {plan.inner()}"
        )
        if low is None:
            return []
        steps = {low + (high - low) * index // partitions for index in range(1, partitions)}
        return [f"'{step}'" for step in sorted(steps - {low})]
    fractions = [index / partitions for index in range(1, partitions)]
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
