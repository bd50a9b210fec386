"""The shared panel cache: one query per panel, filters and data version, however many
viewers ask.

Why keyed by the data version: every write to the gallery's data bumps one number in the
database in the writing transaction (migration 0005), so an entry stored under version N
holds exactly what a snapshot at N sees; a write makes every older entry unreachable at
once, in every process and behind every replica, with no invalidation messages. The TTL
(``GALLERY_CACHE_TTL_SECONDS``) only bounds staleness from writes no trigger saw (a
restored backup).

The one correctness rule: a result is stored under the version read in the SAME snapshot
as its rows (:func:`read_version`, inside the REPEATABLE READ transaction the panel query
runs in), never under the version the lookup used. A lagging replica, or a fall-back to
the primary between the lookup and the query, can then only make an entry be stored
under an older or newer key than was looked up (a later miss), never hold rows newer or
older than its key says.

The lookup side needs the current version too; 200 viewers must not each query it, so a
copy lives for :data:`VERSION_COPY_SECONDS`, one read shared by concurrent callers. A
write through the same :class:`Database` makes the copy stale at once when the Database
counts its committed writes (``writes_committed``); until it does, every lookup reads the
version itself (still one small query per lookup, never a stale one).

Single-flight: concurrent identical requests share one computation, run in a task of its
own; each caller only waits for it. A caller that goes away (cancelled, or its own time
budget spent) just stops waiting; the computation is cancelled (its query too) only when
no caller is left, so a cancelled first caller leaves the others their result. With
Redis, a lock in Redis makes one process compute while the others wait for its entry.

Nothing is created at import: the cashews backend (memory, or Redis when
``GALLERY_CACHE_URL`` is set) is made per event loop on first use, since a Redis
connection, like an asyncpg one, belongs to the loop that opened it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cashews import Cache
from cashews.exceptions import CacheBackendInteractionError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gallery_analytics.concurrency import outcome_seen
from gallery_analytics.db.database import Database, on_loop_release
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.domain.results import PanelResult
from gallery_analytics.panels import Panel

logger = logging.getLogger(__name__)

__all__ = [
    "VERSION_COPY_SECONDS",
    "PanelCache",
    "close_panel_caches",
    "panel_cache",
    "read_version",
    "start_snapshot",
]

# How long the lookup side trusts its copy of the data version (writes through the same
# Database end it at once, when the Database counts them).
VERSION_COPY_SECONDS = 1.0
# Entries in the in-process memory backend (least recently used ones go first).
MEMORY_ENTRIES = 10_000
# Bumped when what an entry holds changes shape, so old entries in a shared Redis are
# never read by newer code.
KEY_FORMAT = "gallery-panel-v1"
# While another process holds the lock for an entry, how often to look for its result.
_LOCK_POLL_SECONDS = 0.02
# Decoded Redis entries kept in this process, each trusted without asking Redis for
# LOCAL_COPY_SECONDS (at most the TTL): a key holds one data version, so its rows never
# change under it (a refresh elsewhere only restamps cached_at); after that the bytes in
# Redis are compared with the copy's, and a match is not decoded again.
_DECODED_ENTRIES = 512
LOCAL_COPY_SECONDS = 1.0

_REPEATABLE_READ = text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
_VERSION = text("SELECT version FROM data_version")
_VERSION_SETTING_TIMEOUT = text(
    "SELECT version FROM data_version, set_config('statement_timeout', :milliseconds, true)"
)

T = TypeVar("T")


async def start_snapshot(session: AsyncSession) -> None:
    """Make the session's transaction one snapshot (REPEATABLE READ): must be its first
    statement, so the version and the panel's rows read later are of the same moment."""
    await session.execute(_REPEATABLE_READ)


async def read_version(session: AsyncSession, *, statement_timeout_ms: str | None = None) -> int:
    """The data version as the session's snapshot sees it; with ``statement_timeout_ms``
    the transaction's statement timeout is set by the same statement (one round trip)."""
    if statement_timeout_ms is None:
        version = await session.scalar(_VERSION)
    else:
        version = await session.scalar(
            _VERSION_SETTING_TIMEOUT, {"milliseconds": statement_timeout_ms}
        )
    if version is None:  # the migration inserts the one row; nothing may delete it
        raise RuntimeError("data_version has no row; run `gallery-analytics db upgrade`")
    return int(version)


@dataclass(slots=True)
class _Flight(Generic[T]):
    task: asyncio.Task[T]
    callers: int = 0


@dataclass(slots=True)
class _SingleFlight(Generic[T]):
    """Concurrent calls with one key share one run of the work, in a task of its own."""

    flights: dict[Hashable, _Flight[T]] = field(default_factory=dict)

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        while True:
            flight = self.flights.get(key)
            if flight is None or flight.task.cancelled():
                flight = self._start(key, work)
            flight.callers += 1
            try:
                return await asyncio.shield(flight.task)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    await self._leave(flight)
                    raise
                # Not us: the work was cancelled under us (every other caller left as we
                # joined); take over with a run of our own.
                if not flight.task.cancelled():
                    raise
            finally:
                flight.callers = max(flight.callers - 1, 0)

    def _start(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> _Flight[T]:
        async def run_work() -> T:
            return await work()

        flight: _Flight[T] = _Flight(asyncio.create_task(run_work()))
        self.flights[key] = flight

        def forget(_task: asyncio.Task[T]) -> None:
            if self.flights.get(key) is flight:
                del self.flights[key]
            outcome_seen(_task)

        flight.task.add_done_callback(forget)
        return flight

    @staticmethod
    async def _leave(flight: _Flight[T]) -> None:
        """A caller going away: the last one cancels the work and waits for it to end, so
        its query is cancelled and its connection back in the pool before the caller's
        own cancellation completes (as without the cache)."""
        if flight.callers <= 1 and not flight.task.done():
            flight.task.cancel()
            await asyncio.wait({flight.task})


class PanelCache:
    """One Database's panel results in one event loop: lookups, single-flight and
    storage in the backend ``db.settings`` chooses (see the module's docstring)."""

    def __init__(self, db: Database, backend: Cache, *, shared: bool) -> None:
        self._db = weakref.ref(db)
        self._backend = backend
        self._shared = shared  # Redis: entries are bytes, and processes lock each other out
        self._namespace = _database_namespace(db)
        self._flights: _SingleFlight[PanelResult] = _SingleFlight()
        self._version_flights: _SingleFlight[int] = _SingleFlight()
        self._gets: _SingleFlight[PanelResult | None] = _SingleFlight()
        self._version: tuple[int, object, float] | None = None  # version, mark, until
        self._open_batch: object | None = None  # the version read still taking callers
        # key -> (bytes in Redis, decoded, trusted until (monotonic))
        self._decoded: OrderedDict[str, tuple[bytes, PanelResult, float]] = OrderedDict()
        self.ttl_seconds = float(db.settings.cache_ttl_seconds)

    # -- the data version -------------------------------------------------------------

    async def current_version(self) -> int:
        """The data version for a lookup: a copy at most VERSION_COPY_SECONDS old, unless
        this Database has committed a write since it was read."""
        db = self._database()
        mark = _write_mark(db)  # None: this Database does not count its writes
        copy = self._version
        fresh = copy is not None and time.monotonic() < copy[2]
        if mark is not None and fresh and copy is not None and copy[1] == mark:
            return copy[0]
        # One read for every caller arriving in this turn of the event loop (200 viewers
        # gathered at once ask once). It is joined only until it asks for its session,
        # so its snapshot (and its replica's read-your-writes wait) comes after every
        # caller's arrival, hence after any write a caller saw committed.
        batch = self._open_batch
        if batch is None:
            batch = self._open_batch = object()
        chosen = batch
        return await self._version_flights.run(chosen, lambda: self._read_batch(db, chosen, mark))

    async def _read_batch(self, db: Database, batch: object, mark: object | None) -> int:
        try:
            await asyncio.sleep(0)  # let this turn's other callers join
        finally:
            if self._open_batch is batch:
                self._open_batch = None  # closed before the session is asked for
        version = await self._read_current_version(db)
        if mark is not None:
            self._version = (version, mark, time.monotonic() + VERSION_COPY_SECONDS)
        return version

    @staticmethod
    async def _read_current_version(db: Database) -> int:
        async with db.read_session() as session:
            return await read_version(session)

    # -- entries ----------------------------------------------------------------------

    def key(
        self, panel: Panel, filters: OverviewFilters, version: int, *, context: str = ""
    ) -> str:
        """The entry's key: database, panel (and its declared shape), normalised filters
        (canonical JSON), ``context`` (what else the result depends on) and data
        version."""
        canonical = json.dumps(
            filters.model_dump(mode="json"), sort_keys=True, separators=(",", ":")
        )
        shape = repr(panel.columns)
        digest = hashlib.sha256(f"{shape}\n{canonical}\n{context}".encode()).hexdigest()[:32]
        return f"{KEY_FORMAT}:{self._namespace}:{panel.name}:{version}:{digest}"

    async def get(self, key: str) -> PanelResult | None:
        """The stored result, or None (never stored, expired, or Redis not answering)."""
        decoded = self._decoded.get(key)
        if decoded is not None and time.monotonic() < decoded[2]:
            return decoded[1]  # a shared entry read within the last LOCAL_COPY_SECONDS
        if self._shared:
            # Concurrent lookups of one key share one GET: whatever any GET returns
            # under a key is of that key's data version, so joining an earlier one is safe.
            return await self._gets.run(key, lambda: self._fetch(key))
        return await self._fetch(key)

    async def _fetch(self, key: str) -> PanelResult | None:
        stored = await self._backend.get(key)
        if stored is None:
            return None
        if isinstance(stored, PanelResult):
            return stored
        if not isinstance(stored, bytes):
            return None  # not ours (KEY_FORMAT guards against that)
        decoded = self._decoded.get(key)
        if decoded is not None and decoded[0] == stored:
            result = decoded[1]
        else:
            try:
                result = PanelResult.model_validate_json(stored)
            except ValueError:
                logger.warning("ignoring an unreadable panel cache entry %s", key)
                return None
        self._keep_decoded(key, stored, result)
        return result

    def _keep_decoded(self, key: str, stored: bytes, result: PanelResult) -> None:
        trusted = time.monotonic() + min(LOCAL_COPY_SECONDS, self.ttl_seconds)
        self._decoded[key] = (stored, result, trusted)
        self._decoded.move_to_end(key)
        if len(self._decoded) > _DECODED_ENTRIES:
            self._decoded.popitem(last=False)

    async def put(self, key: str, result: PanelResult) -> None:
        """Store a successful result (failed and timed-out ones never are)."""
        if not result.ok:
            return
        if not self._shared:
            await self._backend.set(key, result, expire=self.ttl_seconds)
            return
        stored = result.model_dump_json().encode()
        await self._backend.set(key, stored, expire=self.ttl_seconds)
        self._keep_decoded(key, stored, result)

    # -- single-flight ----------------------------------------------------------------

    async def load(
        self,
        lookup_key: str,
        compute: Callable[[], Awaitable[tuple[PanelResult, int]]],
        key_for: Callable[[int], str],
        *,
        refresh: bool = False,
        lock_seconds: float,
    ) -> PanelResult:
        """The result under ``lookup_key``, else computed once for every concurrent caller
        and stored under the key of the version its snapshot read (``key_for``).

        ``refresh`` skips the lookup (the computation is still shared by concurrent
        refreshes, never joined to a lookup's). What a caller gets from the store says
        ``from_cache``; what was computed carries its ``cached_at`` too.
        """
        if not refresh:
            hit = await self.get(lookup_key)
            if hit is not None:
                return hit.model_copy(update={"from_cache": True})

        async def work() -> PanelResult:
            return await self._compute_once(
                lookup_key, compute, key_for, refresh=refresh, lock_seconds=lock_seconds
            )

        if refresh:
            # Never joined to a computation already running: it may have read before a
            # write this caller has seen, and a refresh promises what is there now.
            return await work()
        return await self._flights.run((lookup_key, refresh), work)

    async def _compute_once(
        self,
        lookup_key: str,
        compute: Callable[[], Awaitable[tuple[PanelResult, int]]],
        key_for: Callable[[int], str],
        *,
        refresh: bool,
        lock_seconds: float,
    ) -> PanelResult:
        if not self._shared:
            if not refresh:
                # A caller that missed just as an earlier computation finished and left
                # (with Redis, the look after taking the lock below does this).
                hit = await self.get(lookup_key)
                if hit is not None:
                    return hit.model_copy(update={"from_cache": True})
            return await self._compute_and_store(compute, key_for)
        # Across processes: whoever takes the lock computes; the others watch for its
        # entry (or take the lock when it is released without one: that one failed).
        lock_key = f"{lookup_key}:lock"
        token = uuid.uuid4().hex
        while True:
            if await self._backend.set_lock(lock_key, token, expire=lock_seconds):
                try:
                    if not refresh:
                        hit = await self.get(lookup_key)  # stored while we waited
                        if hit is not None:
                            return hit.model_copy(update={"from_cache": True})
                    return await self._compute_and_store(compute, key_for)
                finally:
                    with contextlib.suppress(CacheBackendInteractionError):
                        await self._backend.unlock(lock_key, token)  # else it expires
            if not await self._answers():  # Redis not answering: compute, without a lock
                return await self._compute_and_store(compute, key_for)
            await asyncio.sleep(_LOCK_POLL_SECONDS)
            if not refresh:
                hit = await self.get(lookup_key)
                if hit is not None:
                    return hit.model_copy(update={"from_cache": True})

    async def _answers(self) -> bool:
        """Whether Redis answers (cashews suppresses a silent Redis's errors on reads and
        writes, which then miss; a lock refused by a silent Redis is no one's lock)."""
        try:
            return await self._backend.ping(b"LOCK") is not None
        except CacheBackendInteractionError:
            return False

    async def _compute_and_store(
        self,
        compute: Callable[[], Awaitable[tuple[PanelResult, int]]],
        key_for: Callable[[int], str],
    ) -> PanelResult:
        result, version = await compute()
        if not result.ok:
            return result
        stamped = result.model_copy(update={"cached_at": dt.datetime.now(dt.UTC)})
        await self.put(key_for(version), stamped)
        return stamped

    def _database(self) -> Database:
        db = self._db()
        if db is None:  # pragma: no cover - the Database owns its caches
            raise RuntimeError("the Database of this panel cache is gone")
        return db


def _write_mark(db: Database) -> object | None:
    """What changes whenever this Database commits a write (None: it does not tell)."""
    return getattr(db, "writes_committed", None)


def _database_namespace(db: Database) -> str:
    """Which database an entry is of, without credentials: host, port and name of the
    primary (replicas hold the same data, so they share its entries), hashed."""
    where = db.url.set(username=None, password=None).render_as_string(hide_password=True)
    return hashlib.sha256(where.encode()).hexdigest()[:16]


# -- one cache per Database and event loop; one backend per event loop and cache URL ------

_CACHES: weakref.WeakKeyDictionary[
    Database, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PanelCache]
] = weakref.WeakKeyDictionary()
# Each backend is made (and initialised) by one task per loop and URL, which every other
# caller awaits: panels starting together in a fresh loop share one backend, and the one
# in use is the one close_panel_caches() closes.
_BACKENDS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str | None, asyncio.Future[Cache]]
] = weakref.WeakKeyDictionary()


async def panel_cache(db: Database) -> PanelCache:
    """The panel cache of ``db`` in the running loop (made, with its backend, on first use)."""
    loop = asyncio.get_running_loop()
    per_loop = _CACHES.get(db)
    if per_loop is None:
        per_loop = _CACHES[db] = weakref.WeakKeyDictionary()
    cache = per_loop.get(loop)
    if cache is None:
        url: str | None = db.settings.cache_url
        backend = await _backend(loop, url)
        cache = per_loop.get(loop)  # made meanwhile by another task
        if cache is None:
            cache = per_loop[loop] = PanelCache(db, backend, shared=url is not None)
    return cache


async def _backend(loop: asyncio.AbstractEventLoop, url: str | None) -> Cache:
    backends = _BACKENDS.get(loop)
    if backends is None:
        backends = _BACKENDS[loop] = {}
    making = backends.get(url)
    failed = (
        making is not None
        and making.done()
        and (making.cancelled() or making.exception() is not None)
    )
    if making is None or failed:  # no await between the look and the store: one maker
        making = backends[url] = asyncio.ensure_future(_new_backend(url))
    return await asyncio.shield(making)


async def _new_backend(url: str | None) -> Cache:
    backend = Cache()
    if url is None:
        # No expiry task (a task would outlive a notebook's private loop): an expired
        # entry is dropped when next read, and the least recently used go first.
        backend.setup(f"mem://?size={MEMORY_ENTRIES}&check_interval=0")
    else:
        # redis-py reads its own version from the installed metadata (file I/O) for
        # every new connection; it keeps the answer, so ask once off the event loop.
        from redis.utils import get_lib_version

        await asyncio.to_thread(get_lib_version)
        # Entries are JSON bytes we write and read ourselves: never pickle from Redis.
        backend.setup(url, pickle_type="null")
    await backend.init()
    return backend


async def close_panel_caches() -> None:
    """Close the running loop's cache backends (Redis connections, the memory backend's
    expiry task); call before the loop closes. They are made again on next use."""
    loop = asyncio.get_running_loop()
    backends = _BACKENDS.pop(loop, {})
    for per_loop in list(_CACHES.values()):
        per_loop.pop(loop, None)
    for making in backends.values():
        if not making.done() or making.cancelled() or making.exception() is not None:
            making.cancel()
            continue
        with warnings.catch_warnings():  # cashews 7.6 calls redis-py's deprecated close()
            warnings.simplefilter("ignore", DeprecationWarning)
            await making.result().close()


# run_sync's private loop closes after its coroutine: its Redis clients go with it.
on_loop_release(close_panel_caches)
