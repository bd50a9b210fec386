"""extract_frame's values and dtypes, type by type, against truths computed in the test.

The slow path (fetch_frame) is a reference only for the kinds with a native dtype; its
text for the fallback types is Python's (``1 day, 2:00:00``), so those are compared with
PostgreSQL's own text written out here, under the package's session settings
(IntervalStyle postgres, DateStyle ISO, TimeZone UTC).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, text

from gallery_analytics.db.database import Database
from gallery_analytics.errors import GalleryAnalyticsError, ValidationError
from gallery_analytics.frames import extract_frame, fetch_frame
from gallery_analytics.frames.dtypes import STRING_DTYPE

# (SQL literal, its type, the float the test expects): numerics arrive as float64, the
# float nearest to the exact decimal (PostgreSQL's rounding to the column's scale first).
NUMERICS: list[tuple[str, str, float]] = [
    ("1234.56", "numeric(12,2)", float(Decimal("1234.56"))),
    ("2.675", "numeric(12,2)", float(Decimal("2.675").quantize(Decimal("0.01"), ROUND_HALF_UP))),
    ("-0.01", "numeric(12,2)", float(Decimal("-0.01"))),
    ("9999999999.99", "numeric(12,2)", float(Decimal("9999999999.99"))),
    (
        "1234567890123456789012345678.0123456789",
        "numeric(38,10)",
        float(Decimal("1234567890123456789012345678.0123456789")),
    ),
    ("-0.0000000001", "numeric(38,10)", float(Decimal("-0.0000000001"))),
    ("1e30", "numeric", float(Decimal("1e30"))),
    ("1e-20", "numeric", float(Decimal("1e-20"))),
    (
        "-123456789.123456789123456789",
        "numeric",
        float(Decimal("-123456789.123456789123456789")),
    ),
    ("NaN", "numeric", math.nan),
    ("Infinity", "numeric", math.inf),
    ("-Infinity", "numeric", -math.inf),
]

# (column, SQL of one value, the Python value expected, the SQL type for a NULL of it).
NATIVE: list[tuple[str, str, Any, str]] = [
    ("small", "(-32768)::int2", -32768, "int2"),
    ("whole", "2147483647::int4", 2147483647, "int4"),
    ("big", "(-9223372036854775808)::int8", -9223372036854775808, "int8"),
    ("object_id", "4000000000::oid", 4000000000, "oid"),  # above 2^31: no wrap-around
    ("single", "0.1::float4", float(np.float32(0.1)), "float4"),
    ("single_inf", "'-Infinity'::float4", -math.inf, "float4"),
    ("double", "1e-300::float8", 1e-300, "float8"),
    ("double_inf", "'Infinity'::float8", math.inf, "float8"),
    ("double_nan", "'NaN'::float8", math.nan, "float8"),
    ("flag", "true", True, "bool"),
    ("first_day", "DATE '0001-01-01'", pd.Timestamp("0001-01-01"), "date"),
    ("leap_day", "DATE '2024-02-29'", pd.Timestamp("2024-02-29"), "date"),
    ("last_day", "DATE '9999-12-31'", pd.Timestamp("9999-12-31"), "date"),
    (
        "local_time",
        "TIMESTAMP '2024-01-01 12:00:00.123456'",
        pd.Timestamp("2024-01-01 12:00:00.123456"),
        "timestamp",
    ),
    (
        "instant",  # given at +02 (the night summer time starts in Europe): shown in UTC
        "'2024-03-31 02:30:00+02'::timestamptz",
        pd.Timestamp("2024-03-31 00:30:00", tz="UTC"),
        "timestamptz",
    ),
    (
        "early_instant",
        "'0001-01-01 00:00:00.000001+00'::timestamptz",
        pd.Timestamp("0001-01-01 00:00:00.000001", tz="UTC"),
        "timestamptz",
    ),
    ("words", r"E'tab\there\nnew line \\ back\\slash ü€😀 \"q\" '''", None, "text"),
    ("empty", "''", "", "text"),
    ("short", "'abc'::varchar(10)", "abc", "varchar(10)"),
    ("padded", "'ab'::char(5)", "ab   ", "char(5)"),  # bpchar keeps its padding
    ("pg_name", "'relname'::name", "relname", "name"),
]
NATIVE_WORDS = 'tab\there\nnew line \\ back\\slash ü€😀 "q" \''

# (column, SQL of one value, PostgreSQL's text for it, its type for a NULL).
FALLBACK: list[tuple[str, str, str, str]] = [
    (
        "id",
        "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "uuid",
    ),
    ("doc", """'{"b": 1,   "a": [1, 2]}'::json""", '{"b": 1,   "a": [1, 2]}', "json"),
    ("docb", """'{"b": 1,   "a": [1, 2]}'::jsonb""", '{"a": [1, 2], "b": 1}', "jsonb"),
    ("span", "'26 hours'::interval - '0 hours'::interval", "26:00:00", "interval"),
    ("day_span", "'1 day 02:00:00'::interval", "1 day 02:00:00", "interval"),
    ("month_span", "'14 months'::interval", "1 year 2 mons", "interval"),
    ("clock", "'12:34:56.789'::time", "12:34:56.789", "time"),
    ("zoned_clock", "'12:34:56+05:30'::timetz", "12:34:56+05:30", "timetz"),
    ("numbers", "'{1,2,NULL}'::int[]", "{1,2,NULL}", "int[]"),
    ("words", """ARRAY['a"b', 'c d', NULL, '']::text[]""", '{"a\\"b","c d",NULL,""}', "text[]"),
    ("address", "'10.0.0.1/8'::inet", "10.0.0.1/8", "inet"),
    ("raw", "'\\x0102'::bytea", "\\x0102", "bytea"),
    ("range", "int4range(1, 5)", "[1,5)", "int4range"),
    ("stamp_range", "tstzrange('2024-01-01', NULL)", '["2024-01-01 00:00:00+00",)', "tstzrange"),
]


def _one_row_and_nulls(columns: list[tuple[str, str, str]]) -> str:
    """A first row of values, then a row of NULLs of the same types."""
    values = ", ".join(f"{sql} AS {name}" for name, sql, _ in columns)
    nulls = ", ".join(f"NULL::{type_}" for _, _, type_ in columns)
    return f"SELECT 1 AS n, {values} UNION ALL SELECT 2, {nulls} ORDER BY n"


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(expected, float) and expected == 0:
        return bool(got == 0 and math.copysign(1, got) == math.copysign(1, expected))
    return bool(got == expected)


async def test_numerics_are_the_nearest_float_of_the_exact_decimal(seeded_db: Database) -> None:
    columns = [
        (f"n{i}", f"'{literal}'::{type_}", type_) for i, (literal, type_, _) in enumerate(NUMERICS)
    ]
    frame = await extract_frame(seeded_db, _one_row_and_nulls(columns))
    for (name, _, _), (literal, type_, expected) in zip(columns, NUMERICS, strict=True):
        assert frame[name].dtype == "float64", (literal, type_)
        got = float(frame[name][0])
        assert _same(got, expected), f"{literal}::{type_} -> {got!r}, expected {expected!r}"
        assert math.isnan(frame[name][1])  # NULL -> NaN
    pdt.assert_frame_equal(
        frame, await fetch_frame(seeded_db, _one_row_and_nulls(columns)), check_exact=True
    )


async def test_native_kinds_keep_their_values_and_nulls(seeded_db: Database) -> None:
    columns = [(name, sql, type_) for name, sql, _, type_ in NATIVE]
    query = _one_row_and_nulls(columns)
    frame = await extract_frame(seeded_db, query)
    for name, _, expected, _ in NATIVE:
        value = frame[name][0]
        expected = NATIVE_WORDS if name == "words" else expected
        assert _same(value, expected), f"{name}: {value!r}, expected {expected!r}"
        assert pd.isna(frame[name][1]), name
    # With a NULL: nullable Int64 / boolean; floats NaN; text <NA> (never "" or "None").
    assert {name: str(frame[name].dtype) for name in ("small", "big", "object_id", "flag")} == {
        "small": "Int64",
        "big": "Int64",
        "object_id": "Int64",
        "flag": "boolean",
    }
    assert str(frame["instant"].dtype) == "datetime64[us, UTC]"
    assert str(frame["first_day"].dtype) == "datetime64[us]"
    assert frame["words"].dtype == STRING_DTYPE
    assert frame["empty"].tolist()[0] == ""
    assert frame["empty"].isna().tolist() == [False, True]
    pdt.assert_frame_equal(frame, await fetch_frame(seeded_db, query), check_exact=True)

    # Without nulls: plain int64 and bool.
    first = await extract_frame(seeded_db, f"SELECT * FROM ({query}) AS t WHERE n = 1")
    assert first["object_id"].dtype == "int64"
    assert first["object_id"][0] == 4_000_000_000
    assert first["big"].dtype == "int64"
    assert first["flag"].dtype == "bool"
    pdt.assert_frame_equal(
        first,
        await fetch_frame(seeded_db, f"SELECT * FROM ({query}) AS t WHERE n = 1"),
        check_exact=True,
    )


async def test_timestamptz_given_in_another_zone_is_the_same_instant_in_utc(
    seeded_db: Database,
) -> None:
    query = (
        "SELECT '2024-10-27 02:30:00-04'::timestamptz AS a, "
        "'2024-10-27 02:30:00 Europe/Berlin'::timestamptz AS b, "
        "'2024-06-01 12:00:00'::timestamptz AS c"  # no zone: the session's (UTC)
    )
    frame = await extract_frame(seeded_db, query)
    assert frame.iloc[0].tolist() == [
        pd.Timestamp("2024-10-27 06:30:00", tz="UTC"),
        pd.Timestamp("2024-10-27 01:30:00", tz="UTC"),  # CET (+01) by then
        pd.Timestamp("2024-06-01 12:00:00", tz="UTC"),
    ]
    pdt.assert_frame_equal(frame, await fetch_frame(seeded_db, query), check_exact=True)


@pytest.mark.parametrize(
    "literal",
    [
        "'infinity'::date",
        "'-infinity'::date",
        "'infinity'::timestamptz",
        "'-infinity'::timestamptz",
        "'infinity'::timestamp",
        "'-infinity'::timestamp",
    ],
)
async def test_infinite_dates_and_times_are_never_silently_wrong(
    seeded_db: Database, literal: str
) -> None:
    """PostgreSQL's infinities have no datetime64 value: the fast path must give what the
    slow path gives (asyncpg's clamp to 0001-01-01 / 9999-12-31) or a project error, never
    a value from another era (a wrapped-around 64-bit count) or a bare pyarrow error."""
    query = f"SELECT {literal} AS moment"
    reference = await fetch_frame(seeded_db, query)
    try:
        frame = await extract_frame(seeded_db, query)
    except GalleryAnalyticsError:
        return
    except Exception as exc:  # a driver's error leaking out is the failure
        pytest.fail(f"{literal}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
    got = frame["moment"].astype("int64")[0]
    want = reference["moment"].astype("int64")[0]
    assert got == want, (
        f"{literal}: extract_frame gives {frame['moment'].dt.year[0]}-..., "
        f"fetch_frame {reference['moment'][0]}"
    )


async def test_timestamp_beyond_datetime64_is_a_project_error(seeded_db: Database) -> None:
    """Year 294276 is a valid PostgreSQL timestamp but beyond datetime64[us] (+-290k
    years): a clear error, not a value from the year -290278."""
    try:
        frame = await extract_frame(seeded_db, "SELECT '294276-12-31 23:59:59'::timestamp AS t")
    except GalleryAnalyticsError:
        return
    pytest.fail(f"no error; the value read is {frame['t'].dt.year[0]}-...")


# (literal, the instant in microseconds since 1970 UTC, by the proleptic Gregorian
# calendar both PostgreSQL and numpy use): valid values outside Python's years 1-9999.
_DAY_US = 86_400 * 10**6
BEYOND_PYTHON = [
    ("'0044-03-15 BC'::date", (np.datetime64("-0043-03-15") - np.datetime64("1970-01-01"))),
    ("'12000-01-01'::date", (np.datetime64("12000-01-01") - np.datetime64("1970-01-01"))),
    ("'0001-01-01 00:00:00+00 BC'::timestamptz", None),
    ("'12000-06-01 12:30:00+00'::timestamptz", None),
    ("'12000-06-01 12:30:00'::timestamp", None),
]


@pytest.mark.parametrize(("literal", "days"), BEYOND_PYTHON, ids=lambda value: str(value))
async def test_dates_beyond_pythons_years(seeded_db: Database, literal: str, days: Any) -> None:
    """Valid PostgreSQL dates and times before year 1 or after 9999: extract_frame reads
    them (datetime64 reaches +-290k years); fetch_frame, whose driver builds Python
    datetimes, says so in a sentence and leaves its connection usable (it raised the
    driver's bare ValueError / OverflowError: 'ordinal must be >= 1')."""
    query = f"SELECT {literal} AS moment"
    frame = await extract_frame(seeded_db, query)
    truth = await fetch_frame(
        seeded_db, f"SELECT (extract(epoch FROM {literal}) * 1000000)::int8 AS us"
    )
    want = int(truth["us"][0])
    assert int(frame["moment"].astype("int64")[0]) == want
    if days is not None:
        assert want == int(days.astype("timedelta64[D]").astype("int64")) * _DAY_US
    with pytest.raises(ValidationError, match="outside Python's years 1-9999") as caught:
        await fetch_frame(seeded_db, query)
    assert caught.value.field == "query"
    assert "extract_frame" in str(caught.value)
    after = await fetch_frame(seeded_db, "SELECT 1 AS one")
    assert after["one"].tolist() == [1]


async def test_fallback_types_arrive_as_postgresql_text(seeded_db: Database) -> None:
    columns = [(name, sql, type_) for name, sql, _, type_ in FALLBACK]
    frame = await extract_frame(seeded_db, _one_row_and_nulls(columns))
    for name, _, expected, _ in FALLBACK:
        assert frame[name].dtype == STRING_DTYPE, name
        assert frame[name][0] == expected, name
        assert frame[name].isna().tolist() == [False, True], name


async def test_an_enum_arrives_as_its_label(seeded_db: Database) -> None:
    query = (
        "SELECT status, status::text AS label, NULLIF(status, 'available') AS maybe "
        "FROM artworks ORDER BY id"
    )
    frame = await extract_frame(seeded_db, query)
    assert frame["status"].dtype == STRING_DTYPE
    assert frame["status"].tolist() == frame["label"].tolist()
    assert frame["maybe"].isna().sum() == (frame["status"] == "available").sum() > 0
    pdt.assert_frame_equal(frame, await fetch_frame(seeded_db, query), check_exact=True)


async def test_an_empty_result_keeps_every_dtype(seeded_db: Database) -> None:
    columns = [(name, sql, type_) for name, sql, _, type_ in NATIVE] + [
        (name, sql, type_) for name, sql, _, type_ in FALLBACK
    ]
    values = ", ".join(f"{sql} AS {name}_{i}" for i, (name, sql, _) in enumerate(columns))
    some = await extract_frame(seeded_db, f"SELECT {values}")
    none = await extract_frame(seeded_db, f"SELECT {values} WHERE false")
    assert none.empty
    assert list(none.columns) == list(some.columns)
    pdt.assert_series_equal(none.dtypes, some.dtypes)
    reference = await fetch_frame(seeded_db, f"SELECT {values} WHERE false")
    pdt.assert_series_equal(none.dtypes, reference.dtypes)


# -- parameters ------------------------------------------------------------------------------

PARAMETERISED: dict[str, tuple[Any, dict[str, Any]]] = {
    "limit": ("SELECT id, title FROM artworks ORDER BY id LIMIT :n", {"n": 7}),
    "date": (
        "SELECT id, sold_at FROM sales WHERE sold_at >= :since ORDER BY id",
        {"since": dt.datetime(2024, 6, 1, tzinfo=dt.UTC)},
    ),
    "in-list": (
        text("SELECT id, medium FROM artworks WHERE medium IN :media ORDER BY id").bindparams(
            bindparam("media", expanding=True)
        ),
        {"media": ["Print", "Photography"]},
    ),
    "none": (
        "SELECT id FROM artworks WHERE year_created > coalesce(:y, 0) ORDER BY id",
        {"y": None},
    ),
    "decimal": (
        "SELECT id, list_price FROM artworks WHERE list_price > :p ORDER BY id",
        {"p": Decimal("5000.50")},
    ),
    "text": ("SELECT :t AS echoed, :t || '!' AS shouted", {"t": "it's\t$1 \\ ü"}),
}


@pytest.mark.parametrize("name", PARAMETERISED)
async def test_parameters_give_the_slow_paths_result(seeded_db: Database, name: str) -> None:
    query, params = PARAMETERISED[name]
    fast = await extract_frame(seeded_db, query, params)
    slow = await fetch_frame(seeded_db, query, params)
    pdt.assert_frame_equal(fast, slow, check_exact=True)
    assert len(fast) > 0, "a query that returns nothing proves little"
    if name == "limit":
        assert len(fast) == 7


async def test_a_text_value_for_an_integer_parameter_is_converted(seeded_db: Database) -> None:
    """Command-line values come as text: "1990" against an integer column means 1990."""
    query = "SELECT id, year_created FROM artworks WHERE year_created > :y ORDER BY id"
    from_text = await extract_frame(seeded_db, query, {"y": "1990"})
    from_int = await extract_frame(seeded_db, query, {"y": 1990})
    pdt.assert_frame_equal(from_text, from_int, check_exact=True)
    literal = await extract_frame(seeded_db, query.replace(":y", "1990"))
    pdt.assert_frame_equal(from_text, literal, check_exact=True)
    everything = await extract_frame(seeded_db, "SELECT id FROM artworks")
    assert 0 < len(literal) < len(everything)


# -- property: random rows through both paths ------------------------------------------------

_ROWS = st.lists(
    st.tuples(
        st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.none()
        | st.decimals(
            min_value=Decimal("-9999999999.9999"),
            max_value=Decimal("9999999999.9999"),
            places=4,
            allow_nan=False,
            allow_infinity=False,
        ),
        st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
        st.none() | st.booleans(),
        st.datetimes(
            min_value=dt.datetime(1900, 1, 1),
            max_value=dt.datetime(2200, 1, 1),
            timezones=st.just(dt.UTC),
        ),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=_ROWS)
async def test_random_rows_equal_the_slow_path(seeded_db: Database, rows: list[Any]) -> None:
    params: dict[str, Any] = {}
    values = []
    for index, row in enumerate(rows):
        names = [f"{column}{index}" for column in ("i", "n", "s", "b", "t")]
        params.update(zip(names, row, strict=True))
        values.append(
            f"(CAST(:i{index} AS int8), CAST(:n{index} AS numeric(14,4)), "
            f"CAST(:s{index} AS text), CAST(:b{index} AS bool), CAST(:t{index} AS timestamptz))"
        )
    query = f"SELECT * FROM (VALUES {', '.join(values)}) AS t(i, n, s, b, ts)"
    fast = await extract_frame(seeded_db, query, params)
    slow = await fetch_frame(seeded_db, query, params)
    pdt.assert_frame_equal(fast, slow, check_exact=True)
    assert fast["s"].tolist() == [row[2] for row in rows]
