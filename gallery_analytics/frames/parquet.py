"""A query's rows streamed into a Parquet file, in bounded memory, whatever their number.

Record batches come from :mod:`.arrow_stream` (ADBC reads one ahead while the previous
batch is encoded) and go to pyarrow's ``ParquetWriter`` one row group each, so memory
holds a few batches, never the result. Column types are the project's Arrow types
(:func:`.arrow_frames.project_schema`): a file read back with pandas gets the same
dtypes as :func:`.extract.extract_frame`, apart from nullable integers (Parquet keeps
nulls; pandas then reads such a column as float64 unless told otherwise).

Nothing half-written is ever left at ``path``: rows go to an unfinished file
(:class:`~gallery_analytics.unfinished.UnfinishedFile`: unnamed on Linux, so not even a
killed process leaves it behind), which becomes ``path`` only once complete and is freed
on any error or cancellation. An existing ``path`` is replaced only with ``force``;
without it, one that appears while the extract runs is not overwritten either (the
finished file is linked, not renamed, into place).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.parquet as pq
from tqdm.auto import tqdm

from gallery_analytics.concurrency import outcome_seen, responsive_to_interrupts
from gallery_analytics.db.database import Database
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames.arrow_stream import open_stream
from gallery_analytics.frames.plan import plan_extract
from gallery_analytics.frames.sql import Query, compile_query
from gallery_analytics.outputs import claim_output
from gallery_analytics.unfinished import UnfinishedFile

# Batches (and so row groups) of about this size: big enough for Parquet's encodings to
# pay off, small enough that memory stays far below the 300 MB the issue allows.
_BATCH_BYTES = 8 << 20
_MB = 1_000_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ParquetExtract:
    """What :func:`extract_to_parquet` wrote."""

    path: Path
    rows: int
    columns: int
    file_bytes: int
    seconds: float

    def summary(self) -> str:
        rate = self.file_bytes / _MB / self.seconds if self.seconds > 0 else 0.0
        return (
            f"wrote {self.rows:,} rows x {self.columns} columns to {self.path} "
            f"({self.file_bytes / _MB:,.1f} MB in {self.seconds:.1f} s, {rate:,.1f} MB/s)"
        )


async def extract_to_parquet(
    db: Database,
    query: Query,
    path: Path | str,
    params: Mapping[str, Any] | None = None,
    *,
    force: bool = False,
    progress: bool = False,
    field: str = "path",
) -> ParquetExtract:
    """Run ``query`` on the read database and write its rows to the Parquet file ``path``.

    ``progress``: a bar on stderr with the rows written and the rate (MB/s of Arrow data
    read). ``field``: how errors about ``path`` name it (the CLI says ``out``).
    """
    reject_awaitable(db, field="db")
    reject_awaitable(path, field=field)
    started = time.perf_counter()
    sql, args = compile_query(query, params)
    target = await asyncio.to_thread(claim_output, path, force=force, field=field)
    rows = 0
    async with responsive_to_interrupts():
        plan = await plan_extract(db, sql, args)
        repeated = sorted({name for name in plan.names if plan.names.count(name) > 1})
        if repeated:
            # pyarrow writes such a file, but no reader can pick those columns out of it.
            raise ValidationError(
                "query",
                f"returns more than one column named {', '.join(map(repr, repeated))}; a "
                "Parquet file needs distinct names: give them aliases (AS ...)",
            )
        unfinished = await asyncio.to_thread(UnfinishedFile, target)
        try:
            async with open_stream(
                plan,
                statement_timeout=db.settings.extract_timeout_seconds,
                batch_bytes=_BATCH_BYTES,
            ) as stream:
                writer = await _to_the_end(pq.ParquetWriter, unfinished.writer_path, stream.schema)
                try:
                    with _ProgressBar(enabled=progress) as bar:
                        async for batch in stream:
                            await _to_the_end(writer.write_batch, batch)
                            rows += batch.num_rows
                            bar.advance(batch.num_rows, batch.nbytes)
                finally:
                    await asyncio.shield(asyncio.to_thread(writer.close))
            file_bytes = await _to_the_end(unfinished.put_in_place, force=force, field=field)
        finally:
            await asyncio.shield(asyncio.to_thread(unfinished.discard))
    return ParquetExtract(
        path=target,
        rows=rows,
        columns=len(plan.names),
        file_bytes=file_bytes,
        seconds=time.perf_counter() - started,
    )


async def _to_the_end(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function`` in a worker thread, waited for even when the caller is cancelled
    (the cancellation goes on afterwards): the writer must never be closed, nor the
    unfinished file freed, while a thread still writes it."""
    future = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        outcome_seen(future)  # the cancellation is what the caller gets
        raise


class _ProgressBar:
    """Rows written and MB/s, on stderr; nothing when disabled."""

    def __init__(self, *, enabled: bool) -> None:
        self._bar = tqdm(
            unit=" rows", unit_scale=True, desc="extracting", disable=not enabled, file=sys.stderr
        )
        self._bytes = 0
        self._started = time.perf_counter()

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.close()

    def advance(self, rows: int, nbytes: int) -> None:
        self._bytes += nbytes
        elapsed = time.perf_counter() - self._started
        if elapsed > 0:
            self._bar.set_postfix_str(f"{self._bytes / _MB / elapsed:,.1f} MB/s", refresh=False)
        self._bar.update(rows)
