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

# Per unit: PostgreSQL's first day (4713-11-24 BC) from 1970-01-01; what ADBC makes of
# +infinity and of -infinity (the count's extremes shifted by 2000 -> 1970, wrapped);
# 9999-12-31 23:59:59.999999 and 0001-01-01, what they become.
_TIMESTAMP_CLAMPS = (
    -2_440_588 * 86_400_000_000,
    -(2**63) + 946_684_800_000_000 - 1,
    253_402_300_799_999_999,
    -(2**63) + 946_684_800_000_000,
    -62_135_596_800_000_000,
)
_DATE_CLAMPS = (-2_440_588, -(2**31) + 10_957 - 1, 2_932_896, -(2**31) + 10_957, -719_162)

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
        array = _infinities_clamped(array, field.name)
    if array.type.equals(wanted):
        return array
    if pa.types.is_timestamp(wanted) and pa.types.is_timestamp(array.type):
        # Same instants; only the unit or the zone's label may differ.
        return array.cast(wanted, safe=False) if array.type.unit != "us" else array.cast(wanted)
    return pc.cast(array, wanted)


def _infinities_clamped(array: pa.Array, name: str) -> pa.Array:
    """PostgreSQL's infinities as asyncpg (and so fetch_frame) gives them: the latest and
    earliest values of Python's datetime. Anything else impossible is refused.

    ADBC adds the 2000 -> 1970 epoch shift to PostgreSQL's count without checking, so
    +-infinity (the count's largest and smallest values) arrive as two exact values far
    before 4713 BC, PostgreSQL's first day, and so do finite values too large for the
    count after the shift (timestamps after 294246 AD, dates after 5874889 AD). Detecting
    them here costs one minimum per batch; a CASE on the server cost about 10% of the
    whole extract.
    """
    if pa.types.is_timestamp(array.type):
        unit, clamps = pa.int64(), _TIMESTAMP_CLAMPS
    else:
        unit, clamps = pa.int32(), _DATE_CLAMPS
    if len(array) == array.null_count:
        return array
    counts = array.view(unit)
    earliest_valid, plus, latest, minus, earliest = clamps
    if pc.min(counts).as_py() >= earliest_valid:
        return array
    counts = pc.if_else(
        pc.equal(counts, plus),
        pa.scalar(latest, unit),
        pc.if_else(pc.equal(counts, minus), pa.scalar(earliest, unit), counts),
    )
    if pc.min(counts).as_py() < earliest_valid:
        raise _unrepresentable(name)
    return counts.view(array.type)


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
