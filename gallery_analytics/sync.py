"""A thin synchronous facade for code that cannot ``await``.

The library is async. Plain scripts and synchronous callbacks (an ipywidgets
``observe`` handler, say) call ``run_sync(coroutine)``:

- with no event loop running in this thread, it is ``asyncio.run``: a fresh loop,
  closed afterwards;
- under a running loop (a Jupyter kernel), ``asyncio.run`` would fail, so the running
  loop is made re-entrant with **nest-asyncio2** and the coroutine runs to completion
  on it.

Why nest-asyncio2 and not nest_asyncio: the original ``nest_asyncio`` is archived and
unmaintained; ipykernel 7 itself depends on the maintained fork ``nest-asyncio2``, so in
a kernel it is already installed and is the patch ipykernel expects.

Limits, by design of the patch: it re-enters the loop, so the outer task is suspended
while the inner coroutine runs (other tasks still progress); it patches only the pure
asyncio loop (not uvloop: under uvloop ``run_sync`` raises); and in a notebook, plain
``await`` is always better: use ``run_sync`` only where a synchronous signature is
imposed on you.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

from gallery_analytics.db.database import release_running_loop_pools
from gallery_analytics.errors import EventLoopMismatchError, ValidationError
from gallery_analytics.extras import require_extra

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion and return its result, from synchronous code."""
    candidate: object = coroutine  # checked via a copy so `coroutine` keeps its type
    if inspect.iscoroutinefunction(candidate):  # `run_sync(fetch)` for `run_sync(fetch())`
        name = getattr(candidate, "__name__", "it")
        raise ValidationError(
            "coroutine",
            f"expected a coroutine object, got function {name}: "
            f"did you mean run_sync({name}(...))?",
        )
    if not inspect.iscoroutine(candidate):
        raise ValidationError(
            "coroutine", f"expected a coroutine object, got {type(coroutine).__name__}"
        )
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_releasing_pools(coroutine))
    if not isinstance(loop, asyncio.BaseEventLoop):
        coroutine.close()  # never awaited on purpose: close it so no warning is emitted
        raise EventLoopMismatchError(
            f"run_sync cannot re-enter a running {type(loop).__name__} (only asyncio's own "
            "loop can be patched); use `await` instead"
        )
    # Imported here: only code under a running loop (a kernel) needs the patch, and it
    # comes with the notebook extra (ipykernel depends on it too).
    try:
        with require_extra("notebook", needed_by="run_sync under a running event loop"):
            import nest_asyncio2
    except ImportError:
        coroutine.close()
        raise
    nest_asyncio2.apply(loop)
    return loop.run_until_complete(coroutine)


async def _releasing_pools(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine``, then close the pools opened on this (private, about to close)
    loop, so two ``run_sync`` calls in a script leave no connection unclosed."""
    try:
        return await coroutine
    finally:
        await release_running_loop_pools()
