"""Listing problems found in import files for people.

The :class:`~gallery_analytics.errors.Problem` record itself lives in
:mod:`gallery_analytics.errors`, next to :class:`~gallery_analytics.errors.ImportValidationError`
which carries it: the lowest layer may not import from ``imports``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gallery_analytics.errors import ERROR_LIMIT, Problem

__all__ = ["listed"]


def listed(problems: Sequence[Problem], *, indent: str = "  ", limit: int = ERROR_LIMIT) -> str:
    """One problem per line, the first ``limit`` of them, then how many more."""
    shown = "\n".join(f"{indent}{problem}" for problem in problems[:limit])
    more = len(problems) - limit
    return shown + (f"\n{indent}... and {more} more" if more > 0 else "")
