"""Optional dependency groups: say which extra to install when one is missing.

The core package (services, queries, frames, charts, imports, extraction, the CLI's
database commands) installs without Jupyter. Widgets, reports and the notebook runner
need ``gallery-analytics[notebook]``; serving notebooks as apps needs ``[app]``. A module
that needs an extra imports it under :func:`require_extra`, so a missing package is one
sentence naming the extra instead of a bare ``ModuleNotFoundError``::

    with require_extra("notebook", needed_by=__name__):
        import papermill
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gallery_analytics.errors import MissingExtraError

__all__ = ["require_extra"]


@contextmanager
def require_extra(extra: str, *, needed_by: str) -> Iterator[None]:
    """Turn a third-party ``ModuleNotFoundError`` inside the block into
    :class:`MissingExtraError` naming ``extra`` (``needed_by``: the caller's ``__name__``
    or a feature). A missing module of this package itself is a bug, so it passes."""
    try:
        yield
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not missing or missing.partition(".")[0] == "gallery_analytics":
            raise
        raise MissingExtraError(needed_by=needed_by, missing=missing, extra=extra) from exc
