"""Large raw results into pandas, fast, and in batches: PostgreSQL -> ADBC -> Arrow -> pandas.

Row-by-row paths (DB-API cursors, ORM rows) spend their time creating a Python object
per value. Here the ADBC PostgreSQL driver runs the query as a binary ``COPY`` and
decodes it into Arrow columns in C, in a worker thread, while the server is still
sending (:mod:`.arrow_stream`); the server casts what has no native dtype first
(:mod:`.plan`), and the Arrow columns become pandas columns without copying the text
(:mod:`.arrow_frames`).

Measured on this 2-core machine (1M rows x 8 columns, ``benchmarks/extract.py``, every
contender in a fresh process): binary COPY into ADBC beat the previous design, text COPY
through asyncpg parsed by pyarrow's CSV reader, by about 1.8x in time and used less
memory, since the server formats binary faster than text and nothing is parsed twice.

- :func:`extract_frame`: the whole result as one DataFrame (``partitions=N``: N
  connections read disjoint ranges of one snapshot, :mod:`.partitions`);
- :func:`iter_batches`: DataFrames of at most ``batch_rows`` rows, for results larger
  than memory;
- :func:`fetch_frame`: the simple path through SQLAlchemy rows, with the same dtype
  rules: fine for small results, and the reference the fast path is tested against.

Every read goes where the Database routes reads (the replica when it may serve it), with
the read role, read-only, and the statement timeout of the settings: ``extract_frame``
the interactive one (``GALLERY_STATEMENT_TIMEOUT_SECONDS``), streams the longer
``GALLERY_EXTRACT_TIMEOUT_SECONDS`` (a slow consumer keeps a stream's query open).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from gallery_analytics.concurrency import responsive_to_interrupts
from gallery_analytics.db.database import Database
from gallery_analytics.domain.columns import ColumnSpec
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames.arrow_frames import frame_from_batches
from gallery_analytics.frames.arrow_stream import open_stream
from gallery_analytics.frames.convert import frame_from_rows
from gallery_analytics.frames.dtypes import kind_for_oid
from gallery_analytics.frames.partitions import read_partitioned
from gallery_analytics.frames.plan import plan_extract
from gallery_analytics.frames.sql import Query, checked_statement, compile_query

__all__ = ["Query", "compile_query", "extract_frame", "fetch_frame", "iter_batches"]

# iter_batches: ADBC hands over batches of about this many bytes; they are re-cut to the
# caller's row count, so this only bounds memory and the work done ahead of the caller.
_STREAM_BATCH_BYTES = 4 << 20


async def extract_frame(
    db: Database,
    query: Query,
    params: Mapping[str, Any] | None = None,
    *,
    partitions: int = 1,
    partition_by: str | None = None,
) -> pd.DataFrame:
    """Run ``query`` on the read database and return all its rows as a DataFrame, fast.

    ``partitions=N`` with ``partition_by="<a result column>"``: N connections read
    disjoint ranges of that column under one exported snapshot, so the rows are those of
    one moment even while others write. Rows then come range by range (the query's
    ORDER BY holds within a range only).
    """
    reject_awaitable(db, field="db")
    _check_partitioning(partitions, partition_by)
    sql, args = compile_query(query, params)
    timeout = db.settings.statement_timeout_seconds
    async with responsive_to_interrupts():
        if partitions > 1:
            assert partition_by is not None
            plan, batches = await read_partitioned(
                db,
                sql,
                args,
                partitions=partitions,
                partition_by=partition_by,
                statement_timeout=timeout,
            )
        else:
            plan = await plan_extract(db, sql, args)
            async with open_stream(plan, statement_timeout=timeout) as stream:
                batches = [batch async for batch in stream]
        # Conversion is CPU-bound (tens of ms per million rows): off the event loop.
        return await asyncio.to_thread(frame_from_batches, batches, plan.names, plan.kinds)


def iter_batches(
    db: Database,
    query: Query,
    params: Mapping[str, Any] | None = None,
    *,
    batch_rows: int = 100_000,
) -> AsyncGenerator[pd.DataFrame, None]:
    """``async for frame in iter_batches(db, query):`` the result in DataFrames of
    ``batch_rows`` rows (the last may be shorter), read while you work on the previous one.

    Memory stays bounded whatever the result's size. Each frame follows the dtype rules
    for its own rows: an integer column is ``Int64`` in a frame where it has nulls and
    ``int64`` elsewhere, so ``pd.concat`` of all frames equals :func:`extract_frame`.
    Leaving the loop early (``break``, an error, cancellation) stops the server's query:
    at once with ``contextlib.aclosing(iter_batches(...))`` or ``aclose()``, else when
    the generator is collected.
    The arguments are checked here, before the loop starts.
    """
    reject_awaitable(db, field="db")
    reject_awaitable(batch_rows, field="batch_rows")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValidationError("batch_rows", "expected a whole number of rows, at least 1")
    sql, args = compile_query(query, params)
    return _frames_of(db, sql, args, batch_rows)


async def _frames_of(
    db: Database, sql: str, args: Sequence[Any], batch_rows: int
) -> AsyncGenerator[pd.DataFrame, None]:
    async with responsive_to_interrupts():
        plan = await plan_extract(db, sql, args)
        async with open_stream(
            plan,
            statement_timeout=db.settings.extract_timeout_seconds,
            batch_bytes=_STREAM_BATCH_BYTES,
        ) as stream:
            held: list[pa.RecordBatch] = []
            held_rows = 0
            async for batch in stream:
                held.append(batch)
                held_rows += batch.num_rows
                while held_rows >= batch_rows:
                    table = pa.Table.from_batches(held, schema=stream.schema)
                    head, rest = table.slice(0, batch_rows), table.slice(batch_rows)
                    held, held_rows = rest.to_batches(), rest.num_rows
                    yield await asyncio.to_thread(
                        frame_from_batches, head.to_batches(), plan.names, plan.kinds
                    )
            if held_rows:
                yield await asyncio.to_thread(frame_from_batches, held, plan.names, plan.kinds)


async def fetch_frame(
    db: Database, query: Query, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """The same result through SQLAlchemy rows: simple and slow, same dtypes.

    Values of the types read as text (see :mod:`.plan`) are spelled by Python here
    (``[1, 2]``, ``1 day, 2:00:00``) and by PostgreSQL in :func:`extract_frame`
    (``{1,2}``, ``1 day 02:00:00``); every other value is the same.
    """
    reject_awaitable(db, field="db")
    statement = checked_statement(query, params)
    async with db.connection() as connection, connection.begin():
        try:
            result = await connection.execute(statement, dict(params or {}))
        except (ValueError, OverflowError) as exc:
            # asyncpg builds each value while reading rows; SQLAlchemy wraps only the
            # driver's own errors, so datetime's are raised bare from here.
            raise ValidationError(
                "query",
                f"returns a value Python cannot hold ({exc}); dates and times outside "
                "Python's years 1-9999 are the usual cause: extract_frame reads them, or "
                "cast the column to text",
            ) from exc
        # The DB-API cursor's description carries each column's type OID.
        description: Sequence[Sequence[Any]] = result.context.cursor.description or []
        rows = result.all()
    # Positional names, since a result may repeat a column name (joins).
    specs = [
        ColumnSpec(f"c{index}", kind_for_oid(int(column[1])))
        for index, column in enumerate(description)
    ]
    frame = frame_from_rows(
        [{spec.name: row[index] for index, spec in enumerate(specs)} for row in rows], specs
    )
    frame.columns = pd.Index([column[0] for column in description])
    return frame


def _check_partitioning(partitions: int, partition_by: str | None) -> None:
    reject_awaitable(partitions, field="partitions")
    reject_awaitable(partition_by, field="partition_by")
    if isinstance(partitions, bool) or not isinstance(partitions, int) or not partitions >= 1:
        raise ValidationError("partitions", "expected a whole number of connections, at least 1")
    if partitions > 64:
        raise ValidationError("partitions", "expected at most 64 connections", value=partitions)
    if partitions > 1 and not (isinstance(partition_by, str) and partition_by):
        raise ValidationError(
            "partition_by", "name the result column whose ranges the partitions read"
        )
