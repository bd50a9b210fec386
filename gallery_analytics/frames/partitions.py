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

Every partition runs the query again, so it must give the same rows each time: a LIMIT
or TABLESAMPLE is refused, and volatile functions (``random()``) are the caller's to
avoid.

The exporting transaction stays open only until every connection has imported the
snapshot (a snapshot can be imported only while its exporter's transaction lives).

Whether it is faster depends on cores: the server runs one backend per connection, so
on a machine with cores to spare the scans, the COPYs and the decoding run side by side.
On 2 cores, with the client and the server sharing them, it is not (measured in
``benchmarks/extract.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import asyncpg
import pyarrow as pa

from gallery_analytics.concurrency import gather_all
from gallery_analytics.db.database import Database
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames.arrow_stream import ArrowStream, open_stream
from gallery_analytics.frames.plan import ExtractPlan, plan_on

T = TypeVar("T")

_INTEGER_OIDS = frozenset({20, 21, 23})  # int8, int2, int4
_RECORD_OID = 2249


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
                await _check_partitionable(driver, plan, column)
                snapshot: str = await driver.fetchval("SELECT pg_export_snapshot()")
                bounds = await _bounds(driver, plan, column, partitions)
                # Every stream imports the snapshot while the exporter's transaction is
                # open; they read on after it ends.
                opened = await gather_all(
                    *(
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
                )
            finally:
                # It wrote nothing: ending it is all that is left. (A broken connection
                # has ended it already; the error that broke it is the one to report.)
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    await exporter.rollback()
            per_stream = await gather_all(*(_drain(stream) for stream in opened))
    return plan, [batch for batches in per_stream for batch in batches]


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
    # One percentile_disc per fraction: each returns the column's own type (the array
    # form would need an array of it, which arrays and records do not have). They
    # ascend with the fraction; equal ones collapse.
    percentiles = ", ".join(
        f"quote_literal((percentile_disc({index / partitions}) "
        f"WITHIN GROUP (ORDER BY {alias}))::text)"
        for index in range(1, partitions)
    )
    try:
        row = await driver.fetchrow(f"SELECT {percentiles} FROM {plan.inner()}")
    except asyncpg.UndefinedFunctionError:  # "could not identify an ordering operator"
        raise ValidationError(
            "partition_by",
            f"column {plan.names[column]!r} cannot be sorted, so it cannot be split into "
            "ranges; partition by a column that sorts (an id, a number, a date)",
            value=plan.names[column],
        ) from None
    return list(dict.fromkeys(value for value in row if value is not None))


async def _check_partitionable(driver: Any, plan: ExtractPlan, column: int) -> None:
    """Refuse what partitions would read wrongly: every partition runs the query again,
    so a LIMIT or a TABLESAMPLE could pick other rows for each; a record column has no
    literal to bound a range with. (Volatile functions such as random() in the query
    are the caller's to avoid: the README says so.)"""
    if plan.type_oids[column] == _RECORD_OID:
        raise ValidationError(
            "partition_by",
            f"column {plan.names[column]!r} is an anonymous record, which cannot be "
            "compared with a bound; partition by a column of a named type",
            value=plan.names[column],
        )
    plan_json = await driver.fetchval(f"EXPLAIN (FORMAT JSON) SELECT * FROM {plan.inner()}")
    # Text, or already decoded where the pool's connections decode json.
    explained = plan_json if isinstance(plan_json, str) else json.dumps(plan_json)
    if '"Node Type": "Limit"' in explained or '"Node Type": "Sample Scan"' in explained:
        raise ValidationError(
            "partitions",
            "the query has a LIMIT or TABLESAMPLE: each partition runs the query again and "
            "could get other rows; read it in one stream (partitions=1)",
        )


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
