"""Run independent coroutines concurrently, with structured cleanup.

``asyncio.TaskGroup`` rather than bare ``asyncio.gather``: when one task fails or the
caller is cancelled, the others are cancelled *and awaited*, so their sessions are
closed and their connections back in the pool before the error reaches the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from gallery_analytics.errors import GalleryAnalyticsError


async def gather_all(*coroutines: Coroutine[Any, Any, Any]) -> list[Any]:
    """Results in argument order; on failure, the first project error (not a group)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except BaseExceptionGroup as failures:
        project_error = _first(failures, GalleryAnalyticsError)
        if project_error is not None:
            raise project_error from None
        if len(failures.exceptions) == 1:
            raise failures.exceptions[0] from None
        raise
    return [task.result() for task in tasks]


def _first(group: BaseExceptionGroup[Any], kind: type[BaseException]) -> BaseException | None:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            nested = _first(error, kind)
            if nested is not None:
                return nested
        elif isinstance(error, kind):
            return error
    return None
