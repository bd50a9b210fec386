"""Column kinds and specs: the vocabulary shared by queries, panels, DTOs and frames.

A :class:`ColumnSpec` says what a column holds (its :class:`Kind`, which fixes the pandas
dtype), and how people read it: a label, a unit and a display format. Panels declare
their columns with these once; frames, tables, KPI tiles and the HTTP API read them.
Kept free of other project imports (errors and the domain's value types aside) so every
layer can use it without cycles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from gallery_analytics.domain.values import is_currency_code
from gallery_analytics.errors import ValidationError

CURRENCY: Final = "{currency}"
"""Unit placeholder of money columns: amounts are converted into the currency the panel
was run for, which is their unit; :meth:`ColumnSpec.in_currency` fills it in."""

MISSING: Final = "-"
"""How :meth:`ColumnSpec.show` displays a null value (None, NaN, NA, NaT)."""


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

    def parse(self, value: object) -> object:
        """``value`` as the Python value of the column's kind, or a ValidationError
        naming the column and saying what its kind holds.

        The one place that knows what each kind holds, so panel rows read back from JSON
        (an HTTP API, a cache) are the values the database gave: ISO text becomes a
        ``date`` or ``datetime`` again. Nulls (None, NaN, NA, NaT) become None; a
        Decimal becomes a float (FLOAT) or an int (INT, when whole), as pandas has them.
        Nothing else is guessed: "12" in an INT column is refused, not converted.
        """
        if value is None or _is_missing(value):
            return None
        parse = _PARSERS[self.kind]
        try:
            return parse(self, value)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError(
                self.name,
                f"expected {self._expected()}, got {type(value).__name__} {value!r}",
                value=value,
            ) from None

    def _expected(self) -> str:
        if self.categories:
            return f"one of {', '.join(self.categories)}"
        return _EXPECTED[self.kind]

    def show(self, value: object) -> str:
        """``value`` as text, in the column's display format; nulls as :data:`MISSING`.

        The value is first :meth:`parse`-d, so ISO text in a date column is shown as a
        date, and a value the kind cannot hold is a ValidationError naming the column
        (never a bare "Unknown format code")."""
        parsed = self.parse(value)
        if parsed is None:
            return MISSING
        if not self.format:
            return str(parsed)
        try:
            return format(parsed, self.format)
        except (TypeError, ValueError):
            raise ValidationError(
                self.name,
                f"display format {self.format!r} does not apply to {self.kind.value} "
                f"value {parsed!r}",
                value=value,
            ) from None


def in_currency(columns: tuple[ColumnSpec, ...], currency: str) -> tuple[ColumnSpec, ...]:
    """Every money column of ``columns`` in ``currency`` (see :meth:`ColumnSpec.in_currency`)."""
    return tuple(column.in_currency(currency) for column in columns)


def _is_missing(value: object) -> bool:
    """None, NaN, and pandas' NA and NaT without importing pandas (the domain stays light)."""
    if isinstance(value, float):  # numpy's float64 too
        return math.isnan(value)
    return type(value).__name__ in {"NAType", "NaTType"}


def _integer(spec: ColumnSpec, value: object) -> int:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, numbers.Integral):  # numpy's integers too
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)  # a PostgreSQL sum of bigints is numeric
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(value)


def _float(spec: ColumnSpec, value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise TypeError(value)
    number = float(value)
    if math.isnan(number):  # Decimal("NaN"), PostgreSQL's 'NaN'::numeric
        return None
    if math.isinf(number):  # JSON has no infinity: it would come back as null
        raise ValueError(value)
    return number


def _boolean(spec: ColumnSpec, value: object) -> bool:
    if not isinstance(value, bool) and type(value).__name__ != "bool_":  # numpy's bool_
        raise TypeError(value)
    return bool(value)


def _text(spec: ColumnSpec, value: object) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, str):
        raise TypeError(value)
    text = str(value)
    if spec.categories and text not in spec.categories:
        raise ValueError(value)
    return text


def _timestamp(spec: ColumnSpec, value: object) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise TypeError(value)
    aware = value.utcoffset() is not None
    if aware != (spec.kind is Kind.TIMESTAMPTZ):
        raise ValueError(value)
    return value


def _date(spec: ColumnSpec, value: object) -> dt.date:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(value)
    return value


_PARSERS: Final[dict[Kind, Callable[[ColumnSpec, object], object]]] = {
    Kind.INT: _integer,
    Kind.FLOAT: _float,
    Kind.BOOL: _boolean,
    Kind.STRING: _text,
    Kind.CATEGORY: _text,
    Kind.TIMESTAMPTZ: _timestamp,
    Kind.TIMESTAMP: _timestamp,
    Kind.DATE: _date,
}

_EXPECTED: Final[dict[Kind, str]] = {
    Kind.INT: "an integer",
    Kind.FLOAT: "a finite number",
    Kind.BOOL: "true or false",
    Kind.STRING: "text",
    Kind.CATEGORY: "text",
    Kind.TIMESTAMPTZ: "a timestamp with a time zone (datetime or ISO 8601 text)",
    Kind.TIMESTAMP: "a timestamp without a time zone (datetime or ISO 8601 text)",
    Kind.DATE: "a date (not a datetime; date or ISO 8601 text such as 2024-01-31)",
}
