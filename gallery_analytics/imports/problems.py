"""Problems found in import files (the error that lists them is
:class:`gallery_analytics.errors.ImportValidationError`).

Kept apart from the reader, the parser and the loader so each can raise or collect
problems without importing the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gallery_analytics.errors import ERROR_LIMIT

__all__ = ["Problem", "listed"]


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong (``reason``) at ``file``, physical ``line``, ``column`` (may be empty)."""

    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" + (
            f", column {self.column}" if self.column else ""
        )
        return f"{where}: {self.reason}"


def listed(problems: Sequence[Problem], *, indent: str = "  ", limit: int = ERROR_LIMIT) -> str:
    """One problem per line, the first ``limit`` of them, then how many more."""
    shown = "\n".join(f"{indent}{problem}" for problem in problems[:limit])
    more = len(problems) - limit
    return shown + (f"\n{indent}... and {more} more" if more > 0 else "")
