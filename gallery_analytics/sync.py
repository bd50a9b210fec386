"""A thin synchronous facade for code that cannot ``await`` (plain scripts, the CLI).

The library itself is async. ``run_sync`` runs one coroutine to completion on a fresh
event loop. Under a running loop (a Jupyter cell) it refuses with a clear message
instead of calling ``asyncio.run`` there, which would fail; in a notebook, ``await``
the coroutine directly.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

from gallery_analytics.errors import EventLoopMismatchError, ValidationError

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` and return its result, from code with no running event loop."""
    candidate: object = coroutine  # checked via a copy so `coroutine` keeps its type
    if not inspect.iscoroutine(candidate):
        raise ValidationError(
            "coroutine", f"expected a coroutine object, got {type(coroutine).__name__}"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    coroutine.close()  # never awaited on purpose: close it so no warning is emitted
    raise EventLoopMismatchError(
        "run_sync was called while an event loop is running (a notebook cell or async "
        "code): use `await` on the coroutine instead"
    )
