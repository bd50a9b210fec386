"""``to_frame``: one entry point from service results to DataFrames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel

from gallery_analytics.domain.columns import ColumnSpec
from gallery_analytics.domain.results import GalleryOverviewDto, PanelResult
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import ValidationError
from gallery_analytics.frames.convert import frame_from_models, frame_from_rows


def to_frame(
    data: PanelResult | Sequence[BaseModel] | Sequence[Mapping[str, Any]],
    *,
    model: type[BaseModel] | None = None,
    columns: Sequence[ColumnSpec] | None = None,
) -> pd.DataFrame:
    """A DataFrame with real dtypes from a panel result, a list of DTOs, or rows.

    - a :class:`PanelResult`: its rows, typed by the panel's column specs (a failed
      panel gives an empty frame with the right columns);
    - a list of DTOs: one column per field, typed from the model (pass ``model=`` for
      an empty list);
    - a list of dicts: pass ``columns=`` with a ColumnSpec per column.
    """
    reject_awaitable(data, field="data")
    reject_awaitable(model, field="model")
    reject_awaitable(columns, field="columns")
    if isinstance(data, PanelResult):
        return frame_from_rows(data.rows, data.columns)
    if isinstance(data, GalleryOverviewDto):
        raise ValidationError("data", "pass one panel, e.g. to_frame(overview['top_artists'])")
    if isinstance(data, BaseModel) or not isinstance(data, Sequence) or isinstance(data, str):
        raise ValidationError(
            "data", f"expected a PanelResult or a list, got {type(data).__name__}"
        )
    if columns is not None:
        return frame_from_rows(list(data), columns)  # type: ignore[arg-type]
    if model is not None or (data and isinstance(data[0], BaseModel)):
        return frame_from_models(list(data), model)  # type: ignore[arg-type]
    if not data:
        raise ValidationError("data", "an empty list needs model=... or columns=...")
    raise ValidationError("columns", "a list of dicts needs columns=[ColumnSpec(...), ...]")
