"""One set of rules for pandas dtypes, shared by every path that builds a frame.

Whether a frame comes from DTOs, a dashboard panel, the slow SQLAlchemy path or the
COPY fast path, the same PostgreSQL type ends up as the same pandas dtype: numerics
as float64 (never object columns of Decimal), timestamps tz-aware, integers as int64
or, when they hold nulls, nullable Int64, booleans as bool or nullable boolean, text
and ids as pyarrow-backed strings.
"""

from __future__ import annotations

import pandas as pd

from gallery_analytics.domain.columns import Kind

STRING_DTYPE = pd.StringDtype("pyarrow")
TIMESTAMPTZ_DTYPE = pd.DatetimeTZDtype(unit="us", tz="UTC")
TIMESTAMP_DTYPE = "datetime64[us]"

# PostgreSQL type OIDs (stable across versions, see pg_type.dat). Anything not listed,
# enums and domains included, is read as text.
_KIND_BY_OID: dict[int, Kind] = {
    16: Kind.BOOL,
    20: Kind.INT,
    21: Kind.INT,
    23: Kind.INT,
    26: Kind.INT,
    700: Kind.FLOAT,
    701: Kind.FLOAT,
    1700: Kind.FLOAT,
    1082: Kind.DATE,
    1114: Kind.TIMESTAMP,
    1184: Kind.TIMESTAMPTZ,
}


def kind_for_oid(oid: int) -> Kind:
    return _KIND_BY_OID.get(oid, Kind.STRING)


def dtype_for(
    kind: Kind, *, has_nulls: bool, categories: tuple[str, ...] = ()
) -> str | pd.api.extensions.ExtensionDtype:
    """The pandas dtype for a column of ``kind``."""
    if kind is Kind.INT:
        return pd.Int64Dtype() if has_nulls else "int64"
    if kind is Kind.BOOL:
        return pd.BooleanDtype() if has_nulls else "bool"
    if kind is Kind.FLOAT:
        return "float64"
    if kind is Kind.TIMESTAMPTZ:
        return TIMESTAMPTZ_DTYPE
    if kind in (Kind.TIMESTAMP, Kind.DATE):
        return TIMESTAMP_DTYPE
    if kind is Kind.CATEGORY:
        return pd.CategoricalDtype(categories=list(categories)) if categories else "category"
    return STRING_DTYPE
