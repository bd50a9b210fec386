"""The one object that owns engines, pools and session factories.

Why a class and not module-level engines: creating an engine at import time binds a
pool to whatever event loop happens to run first, and Jupyter, pytest and the CLI each
run their own. Here nothing is created until a session is asked for, and then one
engine pair is created per event loop (an asyncpg connection belongs to the loop that
opened it), so the same ``Database`` works from a notebook kernel, ``asyncio.run`` in a
script, and every test loop, without asyncpg's "attached to a different loop".

Sessions are handed out per unit of work and never shared: concurrent tasks each ask
for their own, which gives each its own connection from the pool.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gallery_analytics.config import Settings, mask_url, normalise_url
from gallery_analytics.db.translate import translate_error
from gallery_analytics.errors import (
    DatabaseUnavailableError,
    EventLoopMismatchError,
    GalleryAnalyticsError,
    PoolExhaustedError,
)

APPLICATION_NAME = "gallery-analytics"


@dataclass(slots=True)
class _LoopEngines:
    """The engines and session factories that belong to one event loop."""

    write: AsyncEngine
    read: AsyncEngine
    write_sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]

    async def dispose(self) -> None:
        await self.read.dispose()
        if self.read is not self.write:
            await self.write.dispose()

    async def forget(self) -> None:
        """Drop pools whose loop is gone, without touching their dead connections."""
        await self.read.dispose(close=False)
        if self.read is not self.write:
            await self.write.dispose(close=False)


class Database:
    """Engines, pools and session factories for a primary and an optional read database.

    Use :func:`gallery_analytics.connect` to build one from the environment (or the
    embedded server); construct directly when you already have URLs.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        read_url: str | URL | None = None,
        settings: Settings | None = None,
        echo: bool = False,
    ) -> None:
        self.url = normalise_url(url)
        self.read_url = self.url if read_url is None else normalise_url(read_url)
        self.settings = settings or Settings()
        self._echo = echo
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopEngines] = (
            weakref.WeakKeyDictionary()
        )
        self._disposed = False

    def __repr__(self) -> str:
        read = "" if self.read_url == self.url else f", read_url={mask_url(self.read_url)!r}"
        return f"Database({mask_url(self.url)!r}{read})"

    # -- sessions -----------------------------------------------------------------------

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction on the read engine; any write attempt raises ReadOnlyError."""
        engines = self._engines()
        async with self._translated(), engines.read_sessions() as session:
            yield session

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """A transaction on the primary: committed if the block succeeds, rolled back otherwise.

        Cancellation counts as failure: a cancelled unit of work leaves nothing behind.
        """
        engines = self._engines()
        async with self._translated(), engines.write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A Core connection (no ORM) for bulk work; the caller manages its transaction."""
        engines = self._engines()
        engine = engines.write if write else engines.read
        async with self._translated(), engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def driver_connection(self, *, write: bool = False) -> AsyncIterator[Any]:
        """The pooled asyncpg connection itself, for COPY; returned to the pool afterwards."""
        async with self.connection(write=write) as connection:
            raw = await connection.get_raw_connection()
            yield raw.driver_connection

    # -- lifecycle ----------------------------------------------------------------------

    async def dispose(self) -> None:
        """Close every pooled connection. The Database can be used again afterwards."""
        running = asyncio.get_running_loop()
        for loop, engines in list(self._per_loop.items()):
            if loop is running:
                await engines.dispose()
            else:
                # Another loop's connections can only be closed on that loop; if it is
                # closed they are already dead, so just let go of the pool.
                await engines.forget()
            self._per_loop.pop(loop, None)

    def pool_status(self) -> dict[str, int]:
        """Checked-out and idle connections of this loop's pools (for tests and diagnostics)."""
        engines = self._per_loop.get(asyncio.get_running_loop())
        if engines is None:
            return {"checked_out": 0, "idle": 0}
        pools = {
            id(engines.write.pool): engines.write.pool,
            id(engines.read.pool): engines.read.pool,
        }
        checked_out = sum(getattr(pool, "checkedout", lambda: 0)() for pool in pools.values())
        idle = sum(getattr(pool, "checkedin", lambda: 0)() for pool in pools.values())
        return {"checked_out": checked_out, "idle": idle}

    # -- internals ----------------------------------------------------------------------

    def _engines(self) -> _LoopEngines:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise EventLoopMismatchError(
                "Database sessions are async: use them inside `async def` code or a notebook "
                "cell with top-level await (gallery_analytics.run_sync runs a coroutine "
                "from plain synchronous code)"
            ) from None
        engines = self._per_loop.get(loop)
        if engines is None:
            self._forget_closed_loops()
            engines = self._create_engines()
            self._per_loop[loop] = engines
        return engines

    def _forget_closed_loops(self) -> None:
        for loop in [loop for loop in self._per_loop if loop.is_closed()]:
            self._per_loop.pop(loop, None)

    def _create_engines(self) -> _LoopEngines:
        write = self._create_engine(self.url)
        if self.read_url == self.url:
            # Same server: share the pool; read-only is a per-transaction characteristic
            # (asyncpg sends BEGIN READ ONLY), so no extra round trip is spent on it.
            read = write.execution_options(postgresql_readonly=True)
        else:
            read = self._create_engine(self.read_url).execution_options(postgresql_readonly=True)
        return _LoopEngines(
            write=write,
            read=read,
            write_sessions=async_sessionmaker(write, expire_on_commit=False),
            read_sessions=async_sessionmaker(read, expire_on_commit=False),
        )

    def _create_engine(self, url: URL) -> AsyncEngine:
        pool = self.settings.pool
        timeout_ms = int(self.settings.statement_timeout_seconds * 1000)
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        where = _describe_server(url)

        async def connect_driver() -> Any:
            # Our own connect step, so that "nothing listens there" (an OSError, which
            # SQLAlchemy passes through untranslated) becomes one clear project error.
            try:
                return await asyncpg.connect(
                    dsn,
                    timeout=10,
                    server_settings={
                        "application_name": APPLICATION_NAME,
                        "statement_timeout": str(timeout_ms),
                        "TimeZone": "UTC",
                    },
                )
            except OSError as exc:
                raise DatabaseUnavailableError(
                    f"the database at {where} cannot be reached "
                    f"({exc.strerror or type(exc).__name__}); is the server running? "
                    "(`gallery-analytics db start` starts the embedded one)"
                ) from exc

        return create_async_engine(
            url,
            echo=self._echo,
            pool_size=pool.size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool.timeout_seconds,
            pool_recycle=pool.recycle_seconds,
            pool_pre_ping=pool.pre_ping,
            async_creator=connect_driver,
        )

    @asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        """Re-raise database errors as project errors, chained to the original."""
        try:
            yield
        except GalleryAnalyticsError:
            raise
        except sa_exc.TimeoutError as exc:
            pool = self.settings.pool
            raise PoolExhaustedError(
                f"no database connection became free within {pool.timeout_seconds:g} s "
                f"(pool of {pool.size} connections, max overflow {pool.max_overflow}): too "
                "many concurrent queries for the pool; raise GALLERY_POOL_SIZE or "
                "GALLERY_POOL_TIMEOUT_SECONDS, or run fewer loads at once"
            ) from exc
        except (
            sa_exc.DBAPIError,
            asyncpg.PostgresError,  # raw driver connections (COPY) raise these directly
            asyncpg.InterfaceError,
            ConnectionError,
        ) as exc:
            translated = translate_error(exc)
            if translated is None:
                raise
            raise translated from exc


def _describe_server(url: URL) -> str:
    """Host (or socket directory) and database, never credentials."""
    host = url.host or str(url.query.get("host", "")) or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database or ''}"
