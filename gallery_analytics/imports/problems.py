"""Problems found in import files, and the error that lists them.

Kept apart from the reader, the parser and the loader so each can raise or collect
problems without importing the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gallery_analytics.errors import GalleryAnalyticsError

__all__ = ["ERROR_LIMIT", "ImportValidationError", "Problem"]

# Problems (and warnings) listed one per line before the rest are only counted.
ERROR_LIMIT = 20


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


class ImportValidationError(GalleryAnalyticsError):
    """The files have problems; nothing was written."""

    def __init__(self, problems: Sequence[Problem], *, limit: int = ERROR_LIMIT) -> None:
        self.problems = list(problems)
        shown = "\n".join(f"  {problem}" for problem in self.problems[:limit])
        more = len(self.problems) - limit
        tail = f"\n  ... and {more} more problem(s)" if more > 0 else ""
        super().__init__(
            f"{len(self.problems)} problem(s) in the import files; nothing was written:\n"
            f"{shown}{tail}"
        )
