"""ADBC's Arrow columns -> the project's Arrow types -> pandas with the project's dtypes.

Two steps, so that Parquet files (written from Arrow) and DataFrames agree: integers as
int64, floats as float64, timestamps in microseconds (with time zone UTC for
``timestamptz``), dates as dates, text as strings. The pandas step then applies the rules
of :mod:`gallery_analytics.frames.dtypes`: nullable ``Int64``/``boolean`` only for columns
that hold nulls, dates as ``datetime64[us]``, text as pyarrow-backed strings (no copy of
the text), numerics as float64 (cast on the server, see :mod:`.plan`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gallery_analytics.domain.columns import Kind
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames.dtypes import STRING_DTYPE, TIMESTAMP_DTYPE

# 4713-11-24 BC, PostgreSQL's first date, from 1970-01-01: in days and microseconds.
_EARLIEST_DAYS = -2_440_588
_EARLIEST_MICROSECONDS = _EARLIEST_DAYS * 86_400_000_000

_PROJECT_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.STRING: pa.string(),
    Kind.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    Kind.TIMESTAMP: pa.timestamp("us"),
    Kind.DATE: pa.date32(),
}


def project_schema(names: Sequence[str], kinds: Sequence[Kind]) -> pa.Schema:
    """The Arrow schema of an extract (Parquet files have it), under the result's names."""
    return pa.schema(
        [pa.field(name, _PROJECT_TYPES[kind]) for name, kind in zip(names, kinds, strict=True)]
    )


def project_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch as ADBC decoded it, with the project's types and the result's names.

    Raises :class:`ValidationError` for a date or timestamp ADBC could not represent
    (PostgreSQL's last 30 years of timestamps, 294247 to 294276 AD, and its dates past
    5874890 AD overflow ADBC's 64- and 32-bit counts into impossible values).
    """
    columns = [_project_array(batch.column(index), field) for index, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def frame_from_batches(
    batches: Sequence[pa.RecordBatch], names: Sequence[str], kinds: Sequence[Kind]
) -> pd.DataFrame:
    """One DataFrame from project batches (:func:`project_batch`), column by column."""
    schema = project_schema(names, kinds)
    table = pa.Table.from_batches(batches, schema=schema)
    columns = {
        f"c{index}": _pandas_column(table.column(index), kind, names[index])
        for index, kind in enumerate(kinds)
    }
    del table
    frame = pd.DataFrame(columns, copy=False)
    frame.columns = pd.Index(list(names))  # names may repeat (joins)
    return frame


def _project_array(array: pa.Array, field: pa.Field) -> pa.Array:
    wanted = field.type
    if isinstance(array.type, pa.ExtensionType):  # arrow.json: text underneath
        array = array.storage
    if pa.types.is_timestamp(array.type) or pa.types.is_date32(array.type):
        _check_representable(array, field.name)
    if array.type.equals(wanted):
        return array
    if pa.types.is_timestamp(wanted) and pa.types.is_timestamp(array.type):
        # Same instants; only the unit or the zone's label may differ.
        return array.cast(wanted, safe=False) if array.type.unit != "us" else array.cast(wanted)
    return pc.cast(array, wanted)


def _check_representable(array: pa.Array, name: str) -> None:
    """Every valid PostgreSQL date and timestamp is on or after 4713-11-24 BC; a value
    before that is ADBC's count wrapped around."""
    if pa.types.is_timestamp(array.type):
        earliest, unit = _EARLIEST_MICROSECONDS, pa.int64()
    else:
        earliest, unit = _EARLIEST_DAYS, pa.int32()
    present = len(array) - array.null_count
    if present and pc.min(array.view(unit)).as_py() < earliest:
        raise _unrepresentable(name)


def _unrepresentable(name: str) -> ValidationError:
    return ValidationError(
        "query",
        f"column {name!r} holds a date or time beyond what pandas and Arrow can hold "
        "(datetime64[us] ends in the year 294247); cast it to text in the query "
        f"({name}::text) or leave those rows out",
    )


def _pandas_column(column: pa.ChunkedArray, kind: Kind, name: str) -> Any:
    has_nulls = column.null_count > 0
    if kind is Kind.STRING:
        return column.to_pandas(types_mapper={pa.string(): STRING_DTYPE}.get)
    if kind is Kind.INT and has_nulls:
        return column.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    if kind is Kind.BOOL and has_nulls:
        return column.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    if kind is Kind.DATE:
        try:
            as_timestamps = pc.cast(column, pa.timestamp("us"))
        except pa.ArrowInvalid:  # a date after 294246 AD: no datetime64[us] for it
            raise _unrepresentable(name) from None
        return as_timestamps.to_pandas().astype(TIMESTAMP_DTYPE)
    return column.to_pandas()
