"""Column kinds and specs: the vocabulary shared by queries, panels, DTOs and frames.

A :class:`ColumnSpec` says what a column holds (its :class:`Kind`, which fixes the pandas
dtype), and how people read it: a label, a unit and a display format. Panels declare
their columns with these once; frames, tables, KPI tiles and the HTTP API read them.
Kept free of other project imports (errors and the domain's value types aside) so every
layer can use it without cycles.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from gallery_analytics.domain.values import is_currency_code
from gallery_analytics.errors import ValidationError

CURRENCY: Final = "{currency}"
"""Unit placeholder of money columns: sums are per currency (no conversion), so the unit
is the currency the panel was run for; :meth:`ColumnSpec.in_currency` fills it in."""

MISSING: Final = "-"
"""How :meth:`ColumnSpec.show` displays a null value."""


class Kind(StrEnum):
    """What a column holds, independent of where the frame comes from."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    TIMESTAMPTZ = "timestamptz"
    TIMESTAMP = "timestamp"
    DATE = "date"
    CATEGORY = "category"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column: its name and kind, and how it is shown.

    - ``categories``: the levels of a :attr:`Kind.CATEGORY` column, declared per column
      (empty: levels inferred from the data); only category columns may have them;
    - ``unit``: what a number counts or measures ("artworks", "visitors", or
      :data:`CURRENCY` for money), empty when the label says it all;
    - ``format``: a Python format spec for display (",.0f", ".1%", "%b %Y"); plotly's
      d3 formats read the same for these, so charts and tables agree;
    - ``label``: the column's heading for people (default: its name, capitalised).
    """

    name: str
    kind: Kind
    categories: tuple[str, ...] = ()
    unit: str = ""
    format: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        if self.categories and self.kind is not Kind.CATEGORY:
            raise ValidationError(
                f"columns.{self.name}.categories",
                f"only a category column has categories; this one is {self.kind.value}",
            )
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())

    @property
    def is_money(self) -> bool:
        """Whether the column is an amount in the panel's currency (declared or filled in)."""
        return self.unit == CURRENCY or is_currency_code(self.unit)

    def in_currency(self, currency: str) -> ColumnSpec:
        """This spec with the :data:`CURRENCY` placeholder replaced by ``currency``."""
        if self.unit != CURRENCY:
            return self
        return dataclasses.replace(self, unit=currency)

    def heading(self) -> str:
        """The label, with the unit in brackets unless the label already names it:
        "Revenue (EUR)", but "Visitors" rather than "Visitors (visitors)"."""
        if not self.unit or self.unit.lower() in self.label.lower():
            return self.label
        return f"{self.label} ({self.unit})"

    def show(self, value: object) -> str:
        """``value`` as text, in the column's display format; nulls as :data:`MISSING`."""
        if value is None or _is_missing(value):
            return MISSING
        if not self.format:
            return str(value)
        return format(value, self.format)


def in_currency(columns: tuple[ColumnSpec, ...], currency: str) -> tuple[ColumnSpec, ...]:
    """Every money column of ``columns`` in ``currency`` (see :meth:`ColumnSpec.in_currency`)."""
    return tuple(column.in_currency(currency) for column in columns)


def _is_missing(value: object) -> bool:
    """None, NaN, and pandas' NA and NaT without importing pandas (the domain stays light)."""
    if isinstance(value, float):  # numpy's float64 too
        return math.isnan(value)
    return type(value).__name__ in {"NAType", "NaTType"}
