"""Live, safe demonstrations of the platform's async pitfalls (notebook 05).

Each function provokes one mistake in a contained way and reports what happened, so
an analyst can see the failure without leaving a broken session or a stalled kernel.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text

from gallery_analytics.db.database import Database


async def measure_event_loop_stall(
    work: Callable[[], Awaitable[object]], *, tick_seconds: float = 0.005
) -> float:
    """The longest time the event loop went without running a ticker task, in seconds.

    A ticker wakes every ``tick_seconds``; while ``work`` runs, any gap well above the
    tick is time the loop was blocked and every other task (other panels, widgets, the
    kernel's own messages) was frozen.
    """
    longest = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(tick_seconds)
            now = time.perf_counter()
            longest = max(longest, now - last - tick_seconds)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(tick_seconds * 2)  # let the ticker start
    try:
        await work()
    finally:
        stop.set()
        await ticking
    return longest


def blocking_sleep(seconds: float) -> Callable[[], Awaitable[None]]:
    """An ``async def`` that wrongly calls ``time.sleep``: it blocks the whole loop."""

    async def work() -> None:
        time.sleep(seconds)  # noqa: ASYNC251 - the pitfall being demonstrated

    return work


def async_sleep(seconds: float) -> Callable[[], Awaitable[None]]:
    """The same wait done right: ``await asyncio.sleep`` yields to other tasks."""

    async def work() -> None:
        await asyncio.sleep(seconds)

    return work


def never_awaited_warning(make_coroutine: Callable[[], object]) -> str:
    """Create a coroutine, drop it without awaiting, return the RuntimeWarning text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coroutine = make_coroutine()
        del coroutine  # CPython warns when the coroutine object is destroyed
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    return messages[0] if messages else "no warning was raised"


@dataclass(frozen=True, slots=True)
class SharedSessionOutcome:
    error: str
    session_usable_afterwards: bool


async def share_one_session_across_gather(db: Database) -> SharedSessionOutcome:
    """Run two queries concurrently on ONE AsyncSession, as one must never do.

    The second task is refused before it touches the connection
    (:class:`~gallery_analytics.errors.ConcurrentSessionUseError`, which says what to do
    instead); the first finishes, and the session stays usable. The error is caught and
    described instead of propagated.
    """
    errors: list[str] = []
    usable = True
    session_context = db.read_session()
    session = await session_context.__aenter__()
    try:
        results = await asyncio.gather(
            session.execute(text("SELECT pg_sleep(0.05)")),
            session.execute(text("SELECT pg_sleep(0.05)")),
            return_exceptions=True,
        )
        errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        try:
            await session.execute(text("SELECT 1"))
        except Exception:
            usable = False
    finally:
        try:
            await session_context.__aexit__(None, None, None)
        except Exception:
            usable = False
    first_line = errors[0].splitlines()[0] if errors else "no error (unexpected)"
    return SharedSessionOutcome(error=first_line, session_usable_afterwards=usable)
