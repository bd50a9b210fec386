"""An AsyncSession that refuses to be used by two tasks at once.

Why: the platform notes gather repository calls on one session. SQLAlchemy refuses
("concurrent operations are not permitted") only once the second task reaches the
connection, raises ``IllegalStateChangeError`` when the session is closed under the
first, and leaves the connection checked out inside an open transaction whose locks
then block everyone else (a migration, the next ``connect()``). Here the second task
fails before it touches anything, with an error that says what to do instead, and the
session's owner waits for (cancelling) the first task's statement before the session
closes, so the connection always goes back to the pool rolled back.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from gallery_analytics.errors import (
    ConcurrentSessionUseError,
    DatabaseNotAnsweringError,
    SessionClosedError,
)

_T = TypeVar("_T")

CONCURRENT_USE_MESSAGE = (
    "one database session was used by two tasks at once (asyncio.gather or create_task "
    "over the same session); a session is one connection and runs one statement at a "
    "time. Give each concurrent task its own session (`async with db.read_session() as "
    "session:` inside the task), or use DashboardService, which runs panels in parallel "
    "that way"
)

SESSION_CLOSED_MESSAGE = (
    "this session's `async with` block has already ended (a task created inside it ran "
    "late, or the session was kept); open a new session for more work"
)

NOT_ANSWERING_MESSAGE = (
    "the database did not answer within the client-side command timeout (statement "
    "timeout + 15 s): the server is stopped, overloaded or unreachable; the connection was "
    "dropped"
)

# The AsyncSession coroutines that talk to the connection.
_GUARDED_METHODS = (
    "execute",
    "scalar",
    "scalars",
    "stream",
    "stream_scalars",
    "get",
    "get_one",
    "refresh",
    "merge",
    "flush",
    "commit",
    "rollback",
    "delete",
    "run_sync",
    "connection",
    "close",
    "invalidate",
)


class GuardedAsyncSession(AsyncSession):
    """AsyncSession whose statements may come from one task at a time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._busy_task: asyncio.Task[Any] | None = None
        self._busy_depth = 0
        self._finished = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def _exclusive(self, name: str, call: Callable[[], Awaitable[_T]]) -> _T:
        task = asyncio.current_task()
        if self._finished and name not in ("close", "invalidate"):
            raise SessionClosedError(SESSION_CLOSED_MESSAGE)
        if self._busy_task is not None and self._busy_task is not task:
            raise ConcurrentSessionUseError(CONCURRENT_USE_MESSAGE)
        self._busy_task = task
        self._busy_depth += 1
        self._idle.clear()
        try:
            return await call()
        except TimeoutError as exc:
            # asyncpg's command timeout: the server did not answer. Rolling back on that
            # connection would wait as long again; drop it instead.
            if name != "invalidate":
                await AsyncSession.invalidate(self)
            raise DatabaseNotAnsweringError(NOT_ANSWERING_MESSAGE) from exc
        finally:
            self._busy_depth -= 1
            if self._busy_depth == 0:
                self._busy_task = None
                self._idle.set()

    async def settle(self) -> None:
        """Cancel and wait for a statement another task still runs on this session.

        Called by the session's owner before the session closes; afterwards nothing
        uses the connection, so closing it (rollback, return to the pool) is safe, and the
        session refuses further statements (a task that starts late gets
        SessionClosedError instead of opening a transaction nobody would close).
        """
        busy = self._busy_task
        if busy is None or busy is asyncio.current_task():
            self._finished = True
            return
        if not busy.done():
            busy.cancel()
        cancelled = False
        while not self._idle.is_set():
            try:
                await asyncio.shield(self._idle.wait())
            except asyncio.CancelledError:
                cancelled = True  # finish settling first: the connection must come back
        self._finished = True
        if cancelled:
            raise asyncio.CancelledError


def _guarded(name: str) -> Callable[..., Awaitable[Any]]:
    method = getattr(AsyncSession, name)

    @functools.wraps(method)
    async def guarded(self: GuardedAsyncSession, *args: Any, **kwargs: Any) -> Any:
        return await self._exclusive(name, lambda: method(self, *args, **kwargs))

    return guarded


for _name in _GUARDED_METHODS:
    setattr(GuardedAsyncSession, _name, _guarded(_name))
