"""Python values (DTOs, panel rows, SQLAlchemy rows) to DataFrames with real dtypes.

Used for results that are small enough to travel as Python objects: dashboard panels,
DTO lists. Large raw results go through :mod:`gallery_analytics.frames.extract`.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Union

import pandas as pd
from pydantic import BaseModel

from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames.dtypes import dtype_for


def frame_from_rows(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[ColumnSpec]
) -> pd.DataFrame:
    """Build a frame column by column, converting each to the dtype its kind dictates.

    An empty ``rows`` gives an empty frame that still has every column and dtype.
    """
    data = {spec.name: _column([row[spec.name] for row in rows], spec) for spec in columns}
    return pd.DataFrame(data, columns=[spec.name for spec in columns])


def frame_from_models(
    items: Sequence[BaseModel], model: type[BaseModel] | None = None
) -> pd.DataFrame:
    """Frame of pydantic DTOs, dtypes taken from the model's field annotations."""
    if model is None:
        if not items:
            raise ValidationError(
                "items", "an empty list needs model=... to know its columns and dtypes"
            )
        model = type(items[0])
    if any(not isinstance(item, model) for item in items):
        raise ValidationError("items", f"expected a list of {model.__name__} only")
    specs = columns_for_model(model)
    rows = [dict(item) for item in items]
    return frame_from_rows(rows, specs)


def columns_for_model(model: type[BaseModel]) -> list[ColumnSpec]:
    hints = typing.get_type_hints(model)
    return [_spec_for_annotation(name, hints[name]) for name in model.model_fields]


def _spec_for_annotation(name: str, annotation: Any) -> ColumnSpec:
    base = _strip_optional(annotation)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return ColumnSpec(name, Kind.CATEGORY, tuple(str(member.value) for member in base))
    if base is bool:
        return ColumnSpec(name, Kind.BOOL)
    if base is int:
        return ColumnSpec(name, Kind.INT)
    if base in (float, Decimal):
        return ColumnSpec(name, Kind.FLOAT)
    if base is dt.datetime:
        return ColumnSpec(name, Kind.TIMESTAMPTZ)
    if base is dt.date:
        return ColumnSpec(name, Kind.DATE)
    return ColumnSpec(name, Kind.STRING)


def _strip_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _column(values: list[Any], spec: ColumnSpec) -> pd.Series:
    has_nulls = any(value is None for value in values)
    dtype = dtype_for(spec.kind, has_nulls=has_nulls, categories=spec.categories)
    if spec.kind is Kind.FLOAT:
        return pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")
    if spec.kind is Kind.TIMESTAMPTZ:
        return pd.Series(pd.to_datetime(_nat(values), utc=True), dtype=dtype)
    if spec.kind in (Kind.DATE, Kind.TIMESTAMP):
        return pd.Series(pd.to_datetime(_nat(values)), dtype=dtype)
    if spec.kind in (Kind.STRING, Kind.CATEGORY):
        values = [_text(value) for value in values]
    return pd.Series(values, dtype=dtype)


def _nat(values: Iterable[Any]) -> list[Any]:
    return [pd.NaT if value is None else value for value in values]


def _text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)
