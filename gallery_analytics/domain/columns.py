"""Column kinds and specs: the vocabulary shared by queries, DTOs and frames.

Kept free of other project imports so every layer can use it without cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    """A column's name and kind; ``categories`` fixes a category column's levels."""

    name: str
    kind: Kind
    categories: tuple[str, ...] = ()
