"""Record batches of one query, read by ADBC in a thread of the stream's own.

Why a thread per stream and not ``asyncio.to_thread``: ADBC blocks (libpq) and the calls
of one connection must not overlap; a single worker keeps them in order, and a long
extract (or several partitions) never occupies the loop's shared default executor. The
event loop only waits on futures, so other coroutines keep running (ADBC and pyarrow
release the GIL while they read and decode).

While the caller works on one batch, the next is already being read (one batch ahead):
the server, the decoding and the caller's work overlap, and memory holds at most two
batches besides the caller's.

Cancellation: the task waiting for a batch is cancelled -> the server is asked to stop
the query (libpq's cancel request), the thread's blocked call returns with an error a
moment later, the connection is closed, and the cancellation goes on to the caller.

A server that stops answering (stopped, partitioned away): libpq has no read timeout and
the server's statement timeout cannot fire, so every wait on the thread is bounded by the
statement timeout plus the pool's client margin (what bounds asyncpg's calls, see
:mod:`gallery_analytics.db.sessions`). Past it, the caller gets
DatabaseNotAnsweringError at once; the blocked call is left to its daemon thread, which
closes the connection when the call returns and never holds up the interpreter's exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pyarrow as pa

from gallery_analytics.concurrency import outcome_seen
from gallery_analytics.db.adbc import DEFAULT_BATCH_BYTES, AdbcQuery
from gallery_analytics.db.sessions import CLIENT_BOUND, CLIENT_TIMEOUT_MARGIN_SECONDS
from gallery_analytics.db.translate import not_answering_error
from gallery_analytics.frames.arrow_frames import project_batch, project_schema
from gallery_analytics.frames.plan import ExtractPlan

logger = logging.getLogger(__name__)

T = TypeVar("T")

# After a cancel, how long to wait for the thread's blocked call to return before leaving
# it behind (a server that stopped answering; the connection closes when it returns).
SETTLE_SECONDS = 10.0


class ArrowStream:
    """Batches of one query with the project's types (:mod:`.arrow_frames`).

    ``statement_timeout``: the server's, for this query; a wait on the thread longer than
    it plus the client margin means the server stopped answering.
    """

    def __init__(self, plan: ExtractPlan, query: AdbcQuery, *, statement_timeout: float) -> None:
        self.plan = plan
        self.schema = project_schema(plan.names, plan.kinds)
        self._query = query
        self._silence_bound = statement_timeout + CLIENT_TIMEOUT_MARGIN_SECONDS
        self._worker = _Worker()
        self._pending: asyncio.Future[pa.RecordBatch | None] | None = None
        self._done = False
        self._silent = False  # a call never returned: the thread is stuck on the server

    async def start(self, sql: str) -> None:
        await self._wait(self._submit(self._query.open))
        await self._wait(self._submit(self._query.start, sql))

    async def next_batch(self) -> pa.RecordBatch | None:
        """The next batch (project types), or None at the end; reads one ahead."""
        if self._done:
            return None
        pending = self._pending or self._submit(self._read_projected)
        self._pending = None
        batch = await self._wait(pending)
        if batch is None:
            self._done = True
            return None
        self._pending = self._submit(self._read_projected)
        return batch

    def _read_projected(self) -> pa.RecordBatch | None:
        """In the stream's thread: read a batch and give it the project's types (casts
        cost CPU, which the event loop's thread must not pay)."""
        batch = self._query.next_batch()
        return None if batch is None else project_batch(batch, self.schema)

    async def __aiter__(self) -> AsyncIterator[pa.RecordBatch]:
        while (batch := await self.next_batch()) is not None:
            yield batch

    async def aclose(self) -> None:
        """Stop the query if it still runs, close the connection, end the thread."""
        pending, self._pending = self._pending, None
        try:
            if self._silent:
                # The thread is blocked on a silent server: it closes the connection when
                # (if ever) that call returns; the caller does not wait for it.
                self._worker.submit(self._query.close)
                return
            if pending is not None and not pending.done():
                self._query.cancel()
            if pending is not None:
                await _settle(pending)
            await _settle(self._submit(self._query.close))
        finally:
            self._worker.shutdown()

    def _submit(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.wrap_future(self._worker.submit(function, *args))

    async def _wait(self, future: asyncio.Future[T]) -> T:
        """The thread's result, within the silence bound; on cancellation, stop the
        server's query first."""
        try:
            # asyncio.wait: on cancellation or timeout, ``future`` itself goes on.
            done, _ = await asyncio.wait({future}, timeout=self._silence_bound)
        except asyncio.CancelledError:
            self._query.cancel()
            await _settle(future)
            raise
        if not done:
            self._silent = True
            self._query.cancel()  # a daemon thread of its own: it may block too
            future.add_done_callback(outcome_seen)
            raise not_answering_error(waited=CLIENT_BOUND)
        return future.result()


class _Worker:
    """One daemon thread running calls in the order given.

    Why not a one-thread ThreadPoolExecutor: its threads are joined when the interpreter
    exits, and a call blocked on a server that stopped answering would then hang the
    exit of the kernel or the command (libpq's read has no timeout).
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[
            tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="gallery-extract", daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._calls.put((future, function, args))
        return future

    def shutdown(self) -> None:
        """The thread ends after the calls already submitted."""
        self._calls.put(None)

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            future, function, args = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # handed to the waiting coroutine
                future.set_exception(exc)


async def _settle(future: asyncio.Future[Any]) -> None:
    """Wait, bounded and through further cancellations, for a thread's call to return
    (its outcome no longer matters: the caller is leaving)."""
    # Retrieved whenever it ends, also after this gives up waiting (asyncio.shield stops
    # watching its inner future once the outer one is cancelled).
    future.add_done_callback(outcome_seen)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    while not future.done():
        try:
            await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - loop.time()))
        except asyncio.CancelledError:
            if loop.time() >= deadline:
                break
        except TimeoutError:
            logger.warning(
                "an extract's database call did not return within %g s of being stopped; "
                "its connection closes when it does",
                SETTLE_SECONDS,
            )
            break
        except Exception:  # the call failed (it was cancelled on the server): expected
            break


@asynccontextmanager
async def open_stream(
    plan: ExtractPlan,
    *,
    statement_timeout: float,
    where: str | None = None,
    snapshot: str | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> AsyncIterator[ArrowStream]:
    """A started stream of ``plan``'s rows (``where``: a condition on its c0, c1, ...),
    closed (the query stopped if unfinished) when the block ends."""
    query = AdbcQuery(
        plan.url, statement_timeout=statement_timeout, batch_bytes=batch_bytes, snapshot=snapshot
    )
    stream = ArrowStream(plan, query, statement_timeout=statement_timeout)
    try:
        await stream.start(plan.select(where))
        yield stream
    finally:
        await asyncio.shield(stream.aclose())
