"""Large raw results into pandas, fast: PostgreSQL COPY -> Apache Arrow -> pandas.

Row-by-row paths (DB-API cursors, ORM rows) spend their time creating a Python object
per value. Here the server formats the result with ``COPY (query) TO STDOUT`` in its
*text* format, asyncpg collects it into one buffer, and pyarrow's multi-threaded CSV
reader parses that buffer (zero-copy) into typed columns. (Parsing pieces while the
COPY is still running was tried: on two cores the server and asyncpg already keep both
busy during the COPY, so the overlap made it slower, not faster.) The column types come
from the query's own result types (a prepared statement's attributes), so nothing is
guessed from the data. Conversion to pandas is column by column with the shared dtype
rules of :mod:`gallery_analytics.frames.dtypes`.

Why the text format rather than CSV: the server produces it faster, and it escapes
newlines and tabs inside values (``\n``, ``\t``), so every line is exactly one row
and pyarrow can split the input without tracking quotes (about 2x faster parsing).
The few string values that contain a backslash escape are decoded afterwards.

``fetch_frame`` is the simple path through SQLAlchemy rows, with the same dtype rules:
fine for small results, and the reference the fast path is tested against.

Queries are a SQLAlchemy ``select()``/``text()`` or a SQL string, with values passed as
bound parameters. COPY cannot take parameters, so asyncpg inlines them with the
server's own literal quoting (``quote_literal``), never with Python string formatting.
(asyncpg finds the ``$n`` placeholders by text, so a query with parameters must not
contain ``$1``-like text inside its own string literals.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import TextClause

from gallery_analytics.concurrency import responsive_to_interrupts
from gallery_analytics.db.database import Database
from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.domain.values import reject_awaitable, storable_text
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames.convert import frame_from_rows
from gallery_analytics.frames.dtypes import (
    STRING_DTYPE,
    TIMESTAMP_DTYPE,
    TIMESTAMPTZ_DTYPE,
    dtype_for,
    kind_for_oid,
)

Query = Executable | str

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]  # compiles SQL only
_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.STRING: pa.large_string(),
    Kind.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    Kind.TIMESTAMP: pa.timestamp("us"),
    Kind.DATE: pa.date32(),
}
_BLOCK_SIZE = 4 << 20  # pyarrow parses blocks of this size in parallel
# COPY text format: NULL is \N and these escapes are the only ones the server writes.
_NULL = "\\N"
_UNESCAPE = {"\\": "\\", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPE_SEQUENCE = re.compile(r"\\(.)", re.DOTALL)


async def extract_frame(
    db: Database, query: Query, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Run ``query`` on the read database and return all its rows as a DataFrame, fast."""
    reject_awaitable(db, field="db")
    sql, args = compile_query(query, params)
    received = bytearray()

    async def collect(chunk: bytes) -> None:
        received.extend(chunk)

    async with (
        responsive_to_interrupts(),
        db.driver_transaction() as connection,
    ):
        attributes = (await connection.prepare(sql)).get_attributes()
        await connection.copy_from_query(sql, *args, output=collect, format="text")
    names = [attribute.name for attribute in attributes]
    kinds = [kind_for_oid(attribute.type.oid) for attribute in attributes]
    # Parsing and conversion are CPU-bound (pyarrow uses both cores): off the event loop.
    return await asyncio.to_thread(_frame_from_text, received, names, kinds)


async def fetch_frame(
    db: Database, query: Query, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """The same result through SQLAlchemy rows: simple and slow, same dtypes."""
    reject_awaitable(db, field="db")
    statement = _statement(query, params)
    async with db.connection() as connection, connection.begin():
        result = await connection.execute(statement, dict(params or {}))
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


def compile_query(query: Query, params: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """SQL with ``$n`` placeholders and the positional values asyncpg expects."""
    statement = _statement(query, params)
    compiled = statement.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
    try:
        expanded = compiled.construct_expanded_state(dict(params) if params else None)
    except Exception as exc:  # SQLAlchemy raises InvalidRequestError for a missing value
        raise ValidationError("params", f"cannot bind the query's parameters: {exc}") from None
    names = expanded.positiontup or []
    values = expanded.positional_parameters if names else ()
    processors = expanded.processors
    args = [
        processors[name](value) if name in processors else value
        for name, value in zip(names, values, strict=True)
    ]
    return expanded.statement, args


def _statement(query: Query, params: Mapping[str, Any] | None) -> Executable:
    """``query`` as a statement, after checking it and ``params``: both fast and slow
    paths refuse the same inputs before any SQL runs. A coroutine anywhere, even as one
    parameter's value, gets the await hint (the driver would say only that it cannot
    encode a coroutine)."""
    reject_awaitable(query, field="query")
    reject_awaitable(params, field="params")
    if isinstance(query, str):
        if not query.strip():
            raise ValidationError("query", "expected SQL text or a select(), got an empty string")
        statement: Executable = text(query)
    elif isinstance(query, Executable):
        statement = query
    else:
        raise ValidationError(
            "query", f"expected SQL text or a SQLAlchemy select(), got {type(query).__name__}"
        )
    if params is not None and not isinstance(params, Mapping):
        raise ValidationError("params", f"expected a dict of values, got {type(params).__name__}")
    for name, value in (params or {}).items():
        for item in value if isinstance(value, list | tuple) else [value]:
            reject_awaitable(item, field=f"params.{name}")
            if isinstance(item, str):
                try:
                    storable_text(item)
                except ValueError as exc:
                    raise ValidationError(f"params.{name}", str(exc)) from None
    if isinstance(statement, TextClause) and params:
        unknown = set(params) - set(statement._bindparams)
        if unknown:
            raise ValidationError(
                "params", f"{sorted(unknown)} match no :name placeholder in the query"
            )
    return statement


# -- conversion -----------------------------------------------------------------------------


def _frame_from_text(
    received: bytearray, names: Sequence[str], kinds: Sequence[Kind]
) -> pd.DataFrame:
    placeholders = [f"c{index}" for index in range(len(names))]
    if not received:
        columns = {
            placeholder: pd.Series([], dtype=dtype_for(kind, has_nulls=False))
            for placeholder, kind in zip(placeholders, kinds, strict=True)
        }
    else:
        table = _parse(received, placeholders, kinds)
        escapes = b"\\" in received  # one memchr pass; escapes are rare in practice
        with contextlib.suppress(BufferError):  # still exported: freed with the table
            received.clear()  # the text is no longer needed: free it before converting
        columns = {
            placeholder: _arrow_column(table.column(placeholder), kind, escapes=escapes)
            for placeholder, kind in zip(placeholders, kinds, strict=True)
        }
        del table
    frame = pd.DataFrame(columns, copy=False)
    frame.columns = pd.Index(list(names))
    return frame


@functools.cache
def _parse_memory_pool() -> pa.MemoryPool:
    """jemalloc when pyarrow has it, else the system allocator.

    Measured here on a fresh process parsing 1M rows: mimalloc (pyarrow's default)
    0.28-0.33 s, jemalloc 0.14 s, system malloc 0.15 s. The difference is the cost of
    first-touching freshly mapped pages, which the default pool pays on every new
    process, i.e. on every new notebook kernel.
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()


def _parse(received: bytearray, placeholders: list[str], kinds: Sequence[Kind]) -> pa.Table:
    with pa.BufferReader(pa.py_buffer(received)) as source:  # a zero-copy view
        return _read(source, placeholders, kinds)


def _read(source: pa.BufferReader, placeholders: list[str], kinds: Sequence[Kind]) -> pa.Table:
    return pa_csv.read_csv(
        source,
        read_options=pa_csv.ReadOptions(
            column_names=placeholders, block_size=_BLOCK_SIZE, use_threads=True
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter="\t",
            quote_char=False,
            escape_char=False,  # decoded afterwards, see _unescape
            newlines_in_values=False,  # the text format escapes newlines in values
            ignore_empty_lines=False,  # a row holding one empty string is an empty line
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types={
                placeholder: _ARROW_TYPES[kind]
                for placeholder, kind in zip(placeholders, kinds, strict=True)
            },
            null_values=[_NULL],
            strings_can_be_null=True,
            true_values=["t"],
            false_values=["f"],
        ),
        memory_pool=_parse_memory_pool(),
    )


def _arrow_column(column: pa.ChunkedArray, kind: Kind, *, escapes: bool) -> Any:
    has_nulls = column.null_count > 0
    if kind is Kind.STRING:
        if escapes:
            column = _unescape(column)
        return column.to_pandas(types_mapper={pa.large_string(): STRING_DTYPE}.get)
    if kind is Kind.INT and has_nulls:
        return column.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    if kind is Kind.BOOL and has_nulls:
        return column.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    if kind is Kind.DATE:
        return column.to_pandas(date_as_object=False).astype(TIMESTAMP_DTYPE)
    series = column.to_pandas()
    if kind is Kind.TIMESTAMPTZ:
        return series.astype(TIMESTAMPTZ_DTYPE)
    return series


def _unescape(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Decode COPY text escapes (``\\n``, ``\\t``, ``\\\\``...) in the values that have any."""
    escaped = pc.fill_null(pc.match_substring(column, "\\"), False)
    if not pc.any(escaped).as_py():
        return column
    decoded = [
        _ESCAPE_SEQUENCE.sub(lambda match: _UNESCAPE.get(match[1], match[1]), value)
        for value in pc.filter(column, escaped).to_pylist()
    ]
    return pc.replace_with_mask(
        column.combine_chunks(), escaped.combine_chunks(), pa.array(decoded, pa.large_string())
    )
