"""The gallery overview: every panel at once, or one panel as a download.

The overview runs its panels in parallel, so the route hands the service the Database
(each panel query gets its own session and connection). One panel comes as JSON, as the
CSV the dashboard's download gives (``panels.table_csv``: headings with units, formula
text defused), as Parquet, or as an Arrow IPC stream written batch by batch.

Panels come from the shared panel cache: every panel's JSON carries ``cached_at`` and
``from_cache``, a single panel from the cache an ``Age`` header (seconds, RFC 9111), and
``?refresh=true`` or a ``Cache-Control: no-cache`` request header reads afresh.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from gallery_analytics.api.dependencies import CanRead, DatabaseDep
from gallery_analytics.db.schema import check_schema
from gallery_analytics.domain.results import GalleryOverviewDto, PanelResult
from gallery_analytics.frames import to_frame
from gallery_analytics.panels import PANELS, table_csv
from gallery_analytics.services.dashboard import DashboardService

router = APIRouter(prefix="/overview", tags=["overview"], dependencies=[CanRead])

PanelName = StrEnum("PanelName", {panel.name: panel.name for panel in PANELS})  # type: ignore[misc]
ARROW_STREAM = "application/vnd.apache.arrow.stream"
# Rows per Arrow record batch sent: small enough to start the stream at once.
ARROW_BATCH_ROWS = 10_000


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"
    ARROW = "arrow"


Day = Annotated[str | None, Query(description="YYYY-MM-DD", max_length=40)]
Text = Annotated[str | None, Query(max_length=200)]
Mediums = Annotated[list[str], Query(description="repeat for several", max_length=100)]


async def _filters(
    start: Day = None,
    end: Day = None,
    medium: Mediums = [],  # noqa: B006  (FastAPI copies query defaults)
    status: Text = None,
    user_id: Text = None,
    artist_id: Text = None,
    currency: Text = None,
    top_n: int | None = None,
) -> dict[str, Any]:
    """The query's filters as OverviewFilters reads them (it parses and checks every one:
    one home for what a filter may be, shared with the dashboard and the report); one
    dependency, so the overview and the one-panel route take the same parameters."""
    given: dict[str, Any] = {
        "start": start,
        "end": end,
        "mediums": medium,
        "status": status,
        "user_id": user_id,
        "artist_id": artist_id,
        "currency": currency,
        "top_n": top_n,
    }
    return {name: value for name, value in given.items() if value not in (None, [])}


Filters = Annotated[dict[str, Any], Depends(_filters)]


async def _refresh(
    request: Request,
    refresh: Annotated[
        bool, Query(description="read every panel from the database, not the cache")
    ] = False,
) -> bool:
    """``?refresh=true``, or the client's ``Cache-Control: no-cache`` (RFC 9111: do not
    answer from a cache without checking with the origin, here the database)."""
    directives = request.headers.get("cache-control", "").lower().split(",")
    return refresh or any(directive.strip() == "no-cache" for directive in directives)


Refresh = Annotated[bool, Depends(_refresh)]


def _age_header(result: PanelResult) -> dict[str, str]:
    """``Age`` for a result served from the cache (whole seconds, rounded down)."""
    age = result.age_seconds()
    return {} if age is None else {"Age": str(math.floor(age))}


@router.get("", response_model=GalleryOverviewDto)
async def overview(db: DatabaseDep, filters: Filters, refresh: Refresh) -> Response:
    """Every panel for the filters, run in parallel: each with its status ("ok", "error"
    or "timeout"), rows, notes, wall time and when it was read (``cached_at``,
    ``from_cache``); one failing panel does not fail the rest."""
    loaded = await DashboardService(db).get_gallery_overview(filters, refresh=refresh)
    if not any(result.ok for result in loaded.panels.values()):
        # Every panel failed: if the database is unreachable or the pool exhausted, say
        # so with a 503 (monitoring and retries see an outage, not a 200 of errors).
        await check_schema(db)
    # Serialised as built: the rows were checked against their columns when the result
    # was made; FastAPI's response validation would check every value a second time.
    return Response(loaded.model_dump_json(), media_type="application/json")


@router.get(
    "/{panel}",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/vnd.apache.parquet": {},
                ARROW_STREAM: {},
            },
            "description": "the panel's rows in the chosen format",
        },
        504: {"description": "the panel ran out of time"},
    },
    response_model=PanelResult,
)
async def one_panel(
    panel: PanelName,
    db: DatabaseDep,
    filters: Filters,
    refresh: Refresh,
    format: Format = Format.JSON,
) -> Response:
    # Raised, not collected: no connection free is a 503, a timeout a 504 (api.problems).
    result = await DashboardService(db).get_panel(panel.value, filters, refresh=refresh)
    filename = f"{result.name}.{format.value}"
    age = _age_header(result)
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"', **age}
    if format is Format.JSON:
        return Response(result.model_dump_json(), media_type="application/json", headers=age)
    if format is Format.CSV:
        text = await asyncio.to_thread(table_csv, result)  # CPU work: off the event loop
        return Response(text, media_type="text/csv; charset=utf-8", headers=disposition)
    table = await asyncio.to_thread(_arrow_table, result)
    if format is Format.PARQUET:
        data = await asyncio.to_thread(_parquet_bytes, table)
        return Response(data, media_type="application/vnd.apache.parquet", headers=disposition)
    return StreamingResponse(_arrow_stream(table), media_type=ARROW_STREAM, headers=disposition)


def _arrow_table(result: PanelResult) -> pa.Table:
    """The panel's rows with the dtypes the notebooks' frames have (``to_frame``)."""
    return pa.Table.from_pandas(to_frame(result), preserve_index=False)


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _arrow_stream(table: pa.Table) -> Iterator[bytes]:
    """The IPC stream format, one record batch at a time: the client reads the schema
    and the first rows before the last are serialised (StreamingResponse runs this
    generator in a worker thread, off the event loop)."""
    sink = _Chunks()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        yield sink.take()
        for batch in table.to_batches(max_chunksize=ARROW_BATCH_ROWS):
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


class _Chunks(io.RawIOBase):
    """A write-only file that hands over what was written since the last ``take``."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
