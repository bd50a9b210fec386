"""Run independent coroutines concurrently, with structured cleanup.

``asyncio.TaskGroup`` rather than bare ``asyncio.gather``: when one task fails or the
caller is cancelled, the others are cancelled *and awaited*, so their sessions are
closed and their connections back in the pool before the error reaches the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from gallery_analytics.errors import GalleryAnalyticsError


def outcome_seen(future: asyncio.Future[Any]) -> None:
    """Mark an ended future's outcome as seen, whatever it was, so an exception nobody
    awaits is not logged as "Future exception was never retrieved". Usable as a done
    callback for work that is abandoned or left to finish on its own."""
    if not future.cancelled():
        future.exception()


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


@contextlib.asynccontextmanager
async def responsive_to_interrupts(period_seconds: float = 0.1) -> AsyncIterator[None]:
    """Keep the event loop waking up while long queries are awaited.

    In a Jupyter kernel, "interrupt" is a SIGINT that the OS may deliver to one of the
    kernel's helper threads; Python then runs the handler (KeyboardInterrupt, which
    ipykernel turns into cancelling the cell) only when the main thread next executes
    bytecode. An event loop idle in ``select()`` while the server works would not wake
    until the queries finish (measured here: an interrupt answered after 18 s instead
    of 0.1 s). A tick every ``period_seconds`` bounds that delay; it costs nothing
    measurable.
    """

    async def tick() -> None:
        while True:  # noqa: ASYNC110 - waking up periodically is the point
            await asyncio.sleep(period_seconds)

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
