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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction

from gallery_analytics.db.translate import CONCURRENT_USE_MESSAGE, not_answering_error
from gallery_analytics.errors import (
    ConcurrentSessionUseError,
    DatabaseNotAnsweringError,
    SessionClosedError,
)

_T = TypeVar("_T")

SESSION_CLOSED_MESSAGE = (
    "this session's `async with` block has already ended (a task created inside it ran "
    "late, or the session was kept); open a new session for more work"
)

# Client-side bound on every statement, beyond the server's statement_timeout: a server
# that stops answering mid-statement fails the call instead of hanging it.
CLIENT_TIMEOUT_MARGIN_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 10.0

# How long a connection waits for a silent server before it is dropped, as messages say it.
CLIENT_BOUND = (
    f"the client-side command timeout (statement timeout + {CLIENT_TIMEOUT_MARGIN_SECONDS:g} s)"
)


def is_driver_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is asyncpg's command timeout, not a caller's ``asyncio.timeout``.

    asyncpg fails the waiting operation with a bare TimeoutError; ``asyncio.timeout`` and
    ``wait_for`` raise theirs from the CancelledError they used to interrupt the work.
    """
    return isinstance(exc, TimeoutError) and not isinstance(exc.__cause__, asyncio.CancelledError)


@asynccontextmanager
async def dropped_when_silent(drop: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """On asyncpg's command timeout inside: ``drop`` the connection and raise
    DatabaseNotAnsweringError. Rolling back on a silent server would wait as long again;
    a dropped connection is rolled back by the server itself."""
    try:
        yield
    except TimeoutError as exc:
        if not is_driver_timeout(exc):
            raise
        await drop()
        if isinstance(exc, DatabaseNotAnsweringError):
            raise
        raise not_answering_error(waited=CLIENT_BOUND) from exc


# The AsyncSession coroutines that talk to the connection (stream and stream_scalars are
# guarded by GuardedAsyncSession itself: their results keep the connection busy).
_GUARDED_METHODS = (
    "execute",
    "scalar",
    "scalars",
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
        # Streamed results and the task that opened each: the connection stays busy with
        # a server-side cursor until the result is used up or closed.
        self._streams: list[tuple[asyncio.Task[Any] | None, Any]] = []
        # Tasks inside a transaction block they opened (begin(), begin_nested()).
        self._transaction_owners: list[asyncio.Task[Any]] = []

    async def _exclusive(self, name: str, call: Callable[[], Awaitable[_T]]) -> _T:
        task = asyncio.current_task()
        if self._finished and name not in ("close", "invalidate", "end_transaction"):
            raise SessionClosedError(SESSION_CLOSED_MESSAGE)
        if self._busy_task is not None and self._busy_task is not task:
            raise ConcurrentSessionUseError(CONCURRENT_USE_MESSAGE)
        if name not in ("close", "invalidate", "end_transaction") and self._holders() - {task}:
            raise ConcurrentSessionUseError(CONCURRENT_USE_MESSAGE)
        self._busy_task = task
        self._busy_depth += 1
        self._idle.clear()
        try:
            async with dropped_when_silent(lambda: AsyncSession.invalidate(self)):
                return await call()
        finally:
            self._busy_depth -= 1
            if self._busy_depth == 0:
                self._busy_task = None
                self._idle.set()

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._exclusive("stream", lambda: AsyncSession.stream(self, *args, **kwargs))
        self._streams.append((asyncio.current_task(), result))
        return result

    async def stream_scalars(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._exclusive(
            "stream_scalars", lambda: AsyncSession.stream_scalars(self, *args, **kwargs)
        )
        self._streams.append((asyncio.current_task(), result))
        return result

    def begin(self) -> AsyncSessionTransaction:
        return _GuardedSessionTransaction(self)

    def begin_nested(self) -> AsyncSessionTransaction:
        return _GuardedSessionTransaction(self, nested=True)

    def _holders(self) -> set[asyncio.Task[Any]]:
        """Tasks holding the connection between statements: reading a stream, or inside
        a transaction block they opened."""
        owners = {task for task in self._transaction_owners if not task.done()}
        return self._streaming_tasks() | owners

    def _streaming_tasks(self) -> set[asyncio.Task[Any]]:
        """Tasks with a streamed result on this session they have not used up or closed."""
        self._streams = [(task, result) for task, result in self._streams if _is_open(result)]
        return {task for task, _ in self._streams if task is not None and not task.done()}

    async def settle(self) -> None:
        """Cancel and wait for another task still running a statement, or still reading a
        streamed result, on this session.

        Called by the session's owner before the session closes; afterwards nothing
        uses the connection, so closing it (rollback, return to the pool) is safe, and the
        session refuses further statements (a task that starts late gets
        SessionClosedError instead of opening a transaction nobody would close).
        """
        current = asyncio.current_task()
        others = self._holders() - {current}
        busy = self._busy_task
        if busy is not None and busy is not current:
            others.add(busy)
        for task in others:
            if not task.done():
                task.cancel()
        cancelled = False
        while others or (busy is not None and busy is not current and not self._idle.is_set()):
            try:
                if others:
                    await asyncio.shield(asyncio.wait(others))
                    others = set()
                else:
                    await asyncio.shield(self._idle.wait())
            except asyncio.CancelledError:
                cancelled = True  # finish settling first: the connection must come back
        self._finished = True
        if cancelled:
            raise asyncio.CancelledError


class _GuardedSessionTransaction(AsyncSessionTransaction):
    """``begin()`` / ``begin_nested()`` whose block belongs to the task that opened it:
    other tasks are refused until it ends (two gathered savepoints would interleave)."""

    async def start(self, is_ctxmanager: bool = False) -> AsyncSessionTransaction:
        session = cast(GuardedAsyncSession, self.session)
        started = await session._exclusive(
            "begin", lambda: AsyncSessionTransaction.start(self, is_ctxmanager)
        )
        task = asyncio.current_task()
        if is_ctxmanager and task is not None:
            session._transaction_owners.append(task)
        return started

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        session = cast(GuardedAsyncSession, self.session)
        try:
            await session._exclusive(
                "end_transaction",
                lambda: AsyncSessionTransaction.__aexit__(self, type_, value, traceback),
            )
        finally:
            task = asyncio.current_task()
            if task in session._transaction_owners:
                session._transaction_owners.remove(task)


def _is_open(result: Any) -> bool:
    """Whether a streamed result still holds its cursor (not used up, not closed).

    SQLAlchemy marks a used-up cursor result "soft closed"; that flag is not public API,
    hence the getattr with a safe default (treated as open, the cautious answer).
    """
    real = getattr(result, "_real_result", result)
    return not (getattr(real, "closed", False) or getattr(real, "_soft_closed", False))


def _guarded(name: str) -> Callable[..., Awaitable[Any]]:
    method = getattr(AsyncSession, name)

    @functools.wraps(method)
    async def guarded(self: GuardedAsyncSession, *args: Any, **kwargs: Any) -> Any:
        return await self._exclusive(name, lambda: method(self, *args, **kwargs))

    return guarded


for _name in _GUARDED_METHODS:
    setattr(GuardedAsyncSession, _name, _guarded(_name))
