"""The one object that owns engines, pools and session factories.

Why a class and not module-level engines: creating an engine at import time binds a
pool to whatever event loop happens to run first, and Jupyter, pytest and the CLI each
run their own. Here nothing is created until a session is asked for, and then one
engine pair is created per event loop (an asyncpg connection belongs to the loop that
opened it), so the same ``Database`` works from a notebook kernel, ``asyncio.run`` in a
script, and every test loop, without asyncpg's "attached to a different loop".

Sessions are handed out per unit of work and never shared: concurrent tasks each ask
for their own, which gives each its own connection from the pool. A session that two
tasks use at once (``asyncio.gather`` over one session, the platform notes' pitfall)
fails fast with :class:`ConcurrentSessionUseError` and still returns its connection
rolled back (:mod:`gallery_analytics.db.sessions`).

Every connection handed back to the pool is reset (settings, role, advisory locks,
temporary tables, cursors), so nothing one caller does with ``SET`` or
``pg_advisory_lock`` reaches the next; every wait on the server has a bound.

With a streaming replica configured (``replica_url``), reads go there while it is
healthy and has replayed this Database's own last write; otherwise to the primary's
read role (:mod:`gallery_analytics.db.replicas` says why and how).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg
from sqlalchemy import event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import Pool, PoolResetState
from sqlalchemy.util import greenlet_spawn

from gallery_analytics.config import Settings, mask_url, normalise_url
from gallery_analytics.db.models import GalleryDataset
from gallery_analytics.db.replicas import (
    MAX_POLL_SECONDS,
    PROBE_SQL,
    WRITTEN_LSN_SQL,
    Probe,
    ReplicaHealth,
    ReplicaStatus,
    lsn_of,
)
from gallery_analytics.db.roles import role_can_write
from gallery_analytics.db.sessions import (
    CLIENT_BOUND,
    CLIENT_TIMEOUT_MARGIN_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    GuardedAsyncSession,
    dropped_when_silent,
    is_driver_timeout,
)
from gallery_analytics.db.translate import (
    connect_error,
    describe_server,
    is_concurrent_use,
    not_answering_error,
    translate_error,
)
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import (
    DatabaseUnavailableError,
    EventLoopMismatchError,
    GalleryAnalyticsError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

APPLICATION_NAME = "gallery-analytics"

# What a connection handed back to the pool must not carry to its next user: session
# settings (RESET ALL restores the values the connection started with, our
# statement_timeout included), a switched role, advisory locks, LISTENs, open cursors,
# temporary tables. asyncpg's own reset, plus roles and temporary tables; not DISCARD
# ALL, which would also drop asyncpg's prepared statements under it.
RESET_CONNECTION_SQL = (
    "SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL; CLOSE ALL; UNLISTEN *; "
    "SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES; "
    # Statements PREPAREd in SQL (asyncpg's own protocol-level ones are not from_sql).
    "DO $$DECLARE r record; BEGIN FOR r IN SELECT name FROM pg_prepared_statements "
    "WHERE from_sql LOOP EXECUTE format('DEALLOCATE %I', r.name); END LOOP; END$$; "
    # setseed() survives RESET ALL: reseed so no one inherits a chosen random() sequence.
    "SELECT setseed(random() * 2 - 1);"
)

# Settings that shape results, sent at connection start: values a client sends at
# startup outrank the role's and the database's defaults, and RESET ALL returns to them,
# so even a role that changed its own defaults (ALTER ROLE CURRENT_USER SET ..., which
# PostgreSQL always allows) cannot change what later sessions compute or parse.
_RESULT_SETTINGS = {
    "search_path": '"$user", public',
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "client_min_messages": "notice",
    "TimeZone": "UTC",
    # ...and what keeps waits bounded and commits durable (the demo reload alone turns
    # synchronous_commit off, with SET LOCAL inside its own transaction).
    "synchronous_commit": "on",
    "lock_timeout": "0",
    "idle_session_timeout": "0",
    "default_transaction_isolation": "read committed",
}


def session_settings(*, statement_timeout: float, read_only: bool) -> dict[str, str]:
    """Everything a connection of this package sends at startup: the result-shaping
    settings above, read-only for readers, and bounded waits. One home, shared by the pool's
    asyncpg connections and the extracts' own (ADBC, :mod:`gallery_analytics.db.adbc`)."""
    return {
        **_RESULT_SETTINGS,
        "default_transaction_read_only": "on" if read_only else "off",
        "application_name": APPLICATION_NAME,
        # Rounded up: 0 would mean "no limit" to PostgreSQL.
        "statement_timeout": str(math.ceil(statement_timeout * 1000)),
        "idle_in_transaction_session_timeout": str(
            math.ceil((statement_timeout + CLIENT_TIMEOUT_MARGIN_SECONDS) * 1000)
        ),
        # TCP keepalives (ignored on Unix sockets): a vanished client or
        # network is noticed by the server within about a minute.
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
    }


@dataclass(slots=True)
class _LoopEngines:
    """The engines and session factories that belong to one event loop."""

    write: AsyncEngine
    read: AsyncEngine
    write_sessions: async_sessionmaker[GuardedAsyncSession]
    read_sessions: async_sessionmaker[GuardedAsyncSession]
    # The streaming replica's, when one is configured.
    replica: AsyncEngine | None = None
    replica_sessions: async_sessionmaker[GuardedAsyncSession] | None = None
    # The pools a dispose() let go of. A session open across the dispose still holds one
    # of their connections, and hands it back to that pool when it ends, not to the
    # engine's new one: closed there by close_returned(), not left open until gc.
    retired_pools: list[Pool] = field(default_factory=list)

    def engines(self) -> list[AsyncEngine]:
        """Each engine with a pool of its own, once (read and write may share one)."""
        engines = [self.write] if self.read is self.write else [self.write, self.read]
        return engines if self.replica is None else [*engines, self.replica]

    async def dispose(self) -> None:
        self.retired_pools = [engine.pool for engine in self.engines()]
        for engine in self.engines():
            await engine.dispose()

    async def close_returned(self) -> None:
        """Close the connections handed back to retired pools since (SQLAlchemy closes
        them in its greenlet: asyncpg's close is a coroutine)."""
        for pool in self.retired_pools:
            await greenlet_spawn(pool.dispose)

    async def forget(self) -> None:
        """Drop pools whose loop is gone, without touching their dead connections."""
        for engine in self.engines():
            await engine.dispose(close=False)


class Database:
    """Engines, pools and session factories for a primary and an optional read database.

    Use :func:`gallery_analytics.connect` to build one from the environment (or the
    embedded server); construct directly when you already have URLs.

    ``url`` is the application's writer role, ``read_url`` a role that may only read
    (default: ``url``; a warning is logged when the read role can write), and
    ``admin_url`` the schema owner used for demo reloads (default: ``url``).
    ``replica_url``: a read-only role on a streaming replica, where reads go while it is
    healthy (``read_url`` is then the fallback on the primary).
    """

    def __init__(
        self,
        url: str | URL,
        *,
        read_url: str | URL | None = None,
        admin_url: str | URL | None = None,
        replica_url: str | URL | None = None,
        settings: Settings | None = None,
        echo: bool = False,
    ) -> None:
        # `Database(ga.connect())`: the await hint, not "'coroutine' has no attribute 'strip'".
        for name, given in (
            ("url", url),
            ("read_url", read_url),
            ("admin_url", admin_url),
            ("replica_url", replica_url),
            ("settings", settings),
        ):
            reject_awaitable(given, field=name)
        self.url = normalise_url(url)
        self.read_url = self.url if read_url is None else normalise_url(read_url)
        self.admin_url = self.url if admin_url is None else normalise_url(admin_url)
        self.settings = settings or Settings()
        self.replica_url = None if replica_url is None else normalise_url(replica_url)
        self._replica = (
            None
            if self.replica_url is None
            else ReplicaHealth(
                where=mask_url(self.replica_url),
                max_lag_seconds=self.settings.replica_max_lag_seconds,
                wait_seconds=self.settings.read_your_writes_wait_seconds,
            )
        )
        self._echo = echo
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopEngines] = (
            weakref.WeakKeyDictionary()
        )
        self._checked_roles: set[str] = set()
        _LIVE_DATABASES.add(self)
        self._open_blocks = 0
        # How many write transactions this Database has seen end (committed, or for a raw
        # connection: its block ended). Whoever keeps something derived from the data for
        # a while (the panel cache's copy of the data version) knows it is stale when
        # this has moved.
        self.writes_committed = 0

    async def __aenter__(self) -> Self:
        """``async with await connect() as db:`` closes every pooled connection at the end
        of the outermost block (an inner ``async with db`` leaves the pools to it, so
        sessions the outer block still holds are not cut off)."""
        self._open_blocks += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open_blocks -= 1
        if self._open_blocks == 0:
            await self.dispose()

    def __repr__(self) -> str:
        read = "" if self.read_url == self.url else f", read_url={mask_url(self.read_url)!r}"
        if self.replica_url is not None:
            read += f", replica_url={mask_url(self.replica_url)!r}"
        return f"Database({mask_url(self.url)!r}{read})"

    # -- sessions -----------------------------------------------------------------------

    @asynccontextmanager
    async def read_session(self, *, primary: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only transaction; any write attempt raises ReadOnlyError.

        On the replica when one is configured and may be used (healthy, not too far
        behind, has replayed this Database's last write), else on the primary's read
        role; ``primary=True`` always reads the primary (what must be current: token
        checks). One session per task: concurrent use raises ConcurrentSessionUseError.
        """
        engines = self._engines()
        async with _closing_if_disposed(engines), self._translated(read_only=True):
            session = await self._read_session_on(engines, primary=primary)
            try:
                async with session:
                    try:
                        yield session
                    finally:
                        await session.settle()
            except BaseException:
                if session.info.get("replica") and self._replica is not None:
                    _note_replica_failure(session, self._replica)
                raise

    async def run_read(
        self, work: Callable[[AsyncSession], Awaitable[T]], *, primary: bool = False
    ) -> T:
        """``await work(session)`` in a read session; when the replica stops answering in
        the middle of it, once more on the primary (``work`` must only read, so running
        it again is safe). For reads that should survive a replica going away (panels)."""
        on_replica = False
        try:
            async with self.read_session(primary=primary) as session:
                on_replica = bool(session.info.get("replica"))
                return await work(session)
        except DatabaseUnavailableError:
            if not on_replica:
                raise
            logger.info("a read failed on the replica; running it again on the primary")
        async with self.read_session(primary=True) as session:
            return await work(session)

    def replica_status(self) -> ReplicaStatus | None:
        """Where reads go and the replica's last seen lag (None: no replica configured)."""
        return None if self._replica is None else self._replica.status()

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """A transaction on the primary: committed if the block succeeds, rolled back otherwise.

        Cancellation counts as failure: a cancelled unit of work leaves nothing behind.
        """
        engines = self._engines()
        async with (
            _closing_if_disposed(engines),
            self._translated(),
            engines.write_sessions() as session,
        ):
            try:
                yield session
            except BaseException:
                await session.settle()
                raise  # closing the session rolls back
            await session.settle()
            async with dropped_when_silent(lambda: AsyncSession.invalidate(session)):
                await AsyncSession.commit(session)
        if self._replica is not None:
            await self._note_committed_session(engines)
        # Only now (the position noted): whoever sees the count move also finds the
        # write to wait for, so no read can take the pre-write replica for current.
        self.writes_committed += 1

    @asynccontextmanager
    async def connection(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A Core connection (no ORM) for bulk work; the caller manages its transaction."""
        engines = self._engines()
        async with _closing_if_disposed(engines), self._translated(read_only=not write):
            connection = await (
                engines.write.connect() if write else self._read_connection_on(engines)
            )
            try:
                async with dropped_when_silent(connection.invalidate):
                    yield connection
                    if write:
                        raw = await connection.get_raw_connection()
                        await self._note_written(raw.driver_connection)
                        self.writes_committed += 1
            finally:
                # Shielded, as AsyncConnection's own `async with` does: a cancelled
                # caller still hands its connection back.
                await asyncio.shield(connection.close())

    @asynccontextmanager
    async def driver_connection(self, *, write: bool = False) -> AsyncIterator[Any]:
        """The pooled asyncpg connection itself, for COPY; returned to the pool afterwards.

        One task at a time, as a session: a statement from a second task while one runs
        is ConcurrentSessionUseError, and the connection is then dropped, not returned
        (the first statement may still be running on it: a pool reset would fail).
        """
        async with self.connection(write=write) as connection:
            raw = await connection.get_raw_connection()
            try:
                async with _fail_fast_on_connection_loss(raw.driver_connection):
                    yield raw.driver_connection
            except Exception as exc:
                if is_concurrent_use(exc):
                    await connection.invalidate()
                raise

    @asynccontextmanager
    async def driver_transaction(self, *, write: bool = False) -> AsyncIterator[Any]:
        """A pooled asyncpg connection inside one transaction (read-only unless ``write``):
        committed if the block succeeds, rolled back otherwise.

        Why not ``connection.transaction()``: when the server stops answering, asyncpg's
        transaction would wait a whole command timeout again for its ROLLBACK; here the
        connection is dropped at once instead (the server rolls back on its own).
        """
        async with (
            self.driver_connection(write=write) as connection,
            _driver_transaction(connection, readonly=not write),
        ):
            yield connection

    @asynccontextmanager
    async def admin_connection(
        self, *, statement_timeout_seconds: float | None = None
    ) -> AsyncIterator[Any]:
        """A short-lived asyncpg connection as the schema owner (``admin_url``), not pooled.

        ``statement_timeout_seconds`` (default: the settings') bounds each statement, on
        the server and in the client: a bulk reload's COPY of a million rows (whose
        rollup triggers aggregate them) is one statement, and may take longer than any
        interactive query should.

        For work the application roles may not do: demo reloads that drop and re-add
        constraints. Migrations use their own connection (:mod:`gallery_analytics.db.schema`).
        """
        async with self._translated():
            connection = await self._connect_driver(
                self.admin_url, statement_timeout=statement_timeout_seconds
            )
            try:
                async with _fail_fast_on_connection_loss(connection):
                    yield connection
                    await self._note_written(connection)
                    self.writes_committed += 1
            finally:
                if not connection.is_closed():
                    await connection.close(timeout=CLIENT_TIMEOUT_MARGIN_SECONDS)

    @asynccontextmanager
    async def admin_transaction(
        self, *, statement_timeout_seconds: float | None = None
    ) -> AsyncIterator[Any]:
        """:meth:`admin_connection` inside one transaction (see :meth:`driver_transaction`)."""
        async with (
            self.admin_connection(
                statement_timeout_seconds=statement_timeout_seconds
            ) as connection,
            _driver_transaction(connection),
        ):
            yield connection

    # -- lifecycle ----------------------------------------------------------------------

    async def dispose(self) -> None:
        """Close every pooled connection. The Database can be used again afterwards.

        A session (or connection) still open keeps its connection until it ends, and
        ending closes it: cutting it off mid-transaction would lose work, and handing it
        back to the discarded pool would leave it open (a ResourceWarning)."""
        running = asyncio.get_running_loop()
        for loop, engines in list(self._per_loop.items()):
            if loop is running:
                await engines.dispose()
            else:
                # Another loop's connections can only be closed on that loop; if it is
                # closed they are already dead, so just let go of the pool.
                await engines.forget()
            self._per_loop.pop(loop, None)

    async def today(self, session: AsyncSession | None = None) -> dt.date:
        """The workbench's "today", the one every service, query and notebook uses.

        ``GALLERY_TODAY`` (``Settings.today``) when set; else the dataset's reference date
        (demo data records the fixed date it was generated around, so a demo notebook
        finds the exhibitions open "now" in its data whatever the calendar says); else
        the calendar's date. Read on every call: a reseed elsewhere is seen at once.
        ``session``: read it in a session the caller already holds (a dashboard panel
        does, so a failure to get a connection stays that panel's failure).
        """
        if self.settings.today is not None:
            return self.settings.today
        if session is not None:
            reference = await session.scalar(select(GalleryDataset.reference_date))
        else:
            async with self.read_session() as own:
                reference = await own.scalar(select(GalleryDataset.reference_date))
        return reference if reference is not None else dt.date.today()

    async def release_running_loop(self) -> None:
        """Close the pools that belong to the running loop only (see
        :func:`release_running_loop_pools`); other loops' pools are left alone."""
        engines = self._per_loop.pop(asyncio.get_running_loop(), None)
        if engines is not None:
            await engines.dispose()

    def pool_status(self) -> dict[str, int]:
        """Checked-out and idle connections of this loop's pools (for tests and diagnostics)."""
        engines = self._per_loop.get(asyncio.get_running_loop())
        if engines is None:
            return {"checked_out": 0, "idle": 0}
        pools = {id(engine.pool): engine.pool for engine in engines.engines()}
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
        if self.read_url == self.url:
            # One role for both: share the pool; read-only then rests on the
            # transaction flag alone (BEGIN READ ONLY), which is warned about.
            write = self._create_engine(self.url, purpose="read and write")
            read = write.execution_options(postgresql_readonly=True)
        else:
            write = self._create_engine(self.url)
            read = self._create_engine(self.read_url, purpose="read").execution_options(
                postgresql_readonly=True
            )
        replica = None
        if self.replica_url is not None:
            replica = self._create_engine(self.replica_url, purpose="read").execution_options(
                postgresql_readonly=True
            )
        return _LoopEngines(
            write=write,
            read=read,
            write_sessions=async_sessionmaker(
                write, class_=GuardedAsyncSession, expire_on_commit=False
            ),
            read_sessions=async_sessionmaker(
                read, class_=GuardedAsyncSession, expire_on_commit=False
            ),
            replica=replica,
            replica_sessions=None
            if replica is None
            else async_sessionmaker(replica, class_=GuardedAsyncSession, expire_on_commit=False),
        )

    async def _read_session_on(
        self, engines: _LoopEngines, *, primary: bool
    ) -> GuardedAsyncSession:
        """A new read session (not begun) on the replica if it may serve this read now,
        else on the primary's read engine."""
        health = self._replica
        if primary or health is None or engines.replica_sessions is None or not health.may_try():
            return engines.read_sessions()
        session = engines.replica_sessions()
        session.info["replica"] = True
        try:
            # Checked out now (no round trip for a recently used connection), so a
            # replica that went away is noticed here, before the caller's first query.
            connection = await session.connection()
            session.info["driver"] = (await connection.get_raw_connection()).driver_connection
            if not health.needs_probe() or await _replica_has_caught_up(connection, health):
                return session
            await session.close()  # behind: a healthy connection, back to the pool
        except _REPLICA_FAILURES as exc:
            health.note_down("cannot be reached", detail=_short_reason(exc))
            await session.invalidate()
        except BaseException:
            health.release_try()
            await session.invalidate()
            raise
        return engines.read_sessions()

    async def _read_connection_on(self, engines: _LoopEngines) -> AsyncConnection:
        """A Core connection for reading (COPY extracts): the replica's when it may serve
        this read now (as for sessions), else the primary read engine's."""
        health = self._replica
        if health is None or engines.replica is None or not health.may_try():
            return await engines.read.connect()
        connection: AsyncConnection | None = None
        try:
            connection = await engines.replica.connect()
            if not health.needs_probe() or await _replica_has_caught_up(connection, health):
                return connection
            await connection.close()
        except _REPLICA_FAILURES as exc:
            health.note_down("cannot be reached", detail=_short_reason(exc))
            if connection is not None:
                await connection.invalidate()
                await connection.close()
        except BaseException:
            health.release_try()
            if connection is not None:
                await connection.invalidate()
                await connection.close()
            raise
        return await engines.read.connect()

    async def _note_committed_session(self, engines: _LoopEngines) -> None:
        """:meth:`_note_written` after a session's commit (which gave its connection back):
        on a connection of its own. The write has committed whatever happens here, so a
        failure is logged, not raised (a caller told "failed" might write it twice)."""
        try:
            async with engines.write.connect() as connection:
                raw = await connection.get_raw_connection()
                await self._note_written(raw.driver_connection)
        except Exception as exc:
            self._position_unknown(exc)

    async def _note_written(self, driver_connection: Any) -> None:
        """After a commit on the primary: remember its WAL position, which this
        Database's next replica read waits for (read-your-writes)."""
        if self._replica is None:
            return
        try:
            written = await driver_connection.fetchval(
                WRITTEN_LSN_SQL, timeout=CLIENT_TIMEOUT_MARGIN_SECONDS
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            self._position_unknown(exc)
            return
        self._replica.note_write(lsn_of(written))

    def _position_unknown(self, exc: Exception) -> None:
        """A write committed but its WAL position could not be read: say so rather than
        fail the write now, and keep reads on the primary for as long as a read would
        have waited for the replica."""
        assert self._replica is not None
        self._replica.note_write_unknown()
        logger.warning(
            "could not read the primary's WAL position after a write (%s); reads go to the "
            "primary for the next %g s",
            _short_reason(exc),
            self._replica.wait_seconds,
        )

    async def _connect_driver(
        self,
        url: URL,
        *,
        check_role: str | None = None,
        read_only: bool = False,
        statement_timeout: float | None = None,
    ) -> Any:
        """An asyncpg connection with the project's session settings and bounded waits.

        Our own connect step, so that "nothing listens there" (an OSError, which
        SQLAlchemy passes through untranslated) becomes one clear project error.
        """
        if statement_timeout is None:
            statement_timeout = self.settings.statement_timeout_seconds
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            connection = await asyncpg.connect(
                dsn,
                timeout=CONNECT_TIMEOUT_SECONDS,
                command_timeout=statement_timeout + CLIENT_TIMEOUT_MARGIN_SECONDS,
                server_settings=session_settings(
                    statement_timeout=statement_timeout, read_only=read_only
                ),
            )
        except OSError as exc:  # TimeoutError included
            raise connect_error(
                exc,
                server=describe_server(url),
                waited_seconds=CONNECT_TIMEOUT_SECONDS,
                hint="is the server running? (`gallery-analytics db start` starts the "
                "embedded one)",
            ) from exc
        if check_role is not None and check_role not in self._checked_roles:
            self._checked_roles.add(check_role)
            try:
                await self._warn_about_privileges(connection, check_role)
            except BaseException:
                await connection.close(timeout=CLIENT_TIMEOUT_MARGIN_SECONDS)
                raise
        return connection

    async def _warn_about_privileges(self, connection: Any, purpose: str) -> None:
        """Say once per Database when a connection has more power than its job needs."""
        why = await role_can_write(connection)
        if why is None:
            return
        role = connection.get_settings().session_authorization or "this role"
        if "read" in purpose:
            logger.warning(
                "reads connect as %s, which can write (%s): read-only then rests on the "
                "transaction flag alone; set GALLERY_READ_DATABASE_URL to a role with "
                "SELECT only (README: database roles)",
                role,
                why,
            )
        if why == "it is a superuser":
            logger.warning(
                "the application connects as %s, a superuser; use a role without "
                "superuser rights (README: database roles)",
                role,
            )

    def _create_engine(self, url: URL, *, purpose: str = "write") -> AsyncEngine:
        pool = self.settings.pool

        async def connect_driver() -> Any:
            return await self._connect_driver(url, check_role=purpose, read_only=purpose == "read")

        engine = create_async_engine(
            url,
            echo=self._echo,
            pool_size=pool.size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool.timeout_seconds,
            pool_recycle=pool.recycle_seconds,
            # The pre-ping is _check_out_alive's (below), not SQLAlchemy's.
            pool_pre_ping=False,
            async_creator=connect_driver,
            # _reset_returned_connection rolls back itself, then clears session state.
            pool_reset_on_return=None,
        )
        pooled = engine.sync_engine.pool
        event.listen(pooled, "reset", _reset_returned_connection)
        event.listen(pooled, "connect", _note_last_use)
        if pool.pre_ping:
            event.listen(pooled, "checkout", _check_out_alive)
        return engine

    @asynccontextmanager
    async def _translated(self, *, read_only: bool = False) -> AsyncIterator[None]:
        """Re-raise database errors as project errors, chained to the original."""
        try:
            yield
        except GalleryAnalyticsError:
            raise
        except (
            sa_exc.TimeoutError,  # no pooled connection became free in time
            sa_exc.DBAPIError,
            asyncpg.PostgresError,  # raw driver connections (COPY) raise these directly
            asyncpg.InterfaceError,
            ConnectionError,
        ) as exc:
            translated = translate_error(exc, read_only=read_only, pool=self.settings.pool)
            if translated is None:
                raise
            raise translated from exc


async def _replica_has_caught_up(connection: AsyncConnection, health: ReplicaHealth) -> bool:
    """Ask the replica how far it has replayed (outside the session's transaction, which
    has not begun): False when it is too far behind, or has not replayed this Database's
    last write within the read-your-writes wait (the read then goes to the primary)."""
    raw: Any = (await connection.get_raw_connection()).driver_connection
    deadline: float | None = None
    poll = 0.002
    while True:
        row = await raw.fetchrow(PROBE_SQL, timeout=CONNECT_TIMEOUT_SECONDS)
        if not health.note_probe(Probe.from_row(row)):
            return False
        pending = health.pending_lsn()
        now = time.monotonic()
        if not pending:
            if deadline is not None:
                health.note_waited(fell_back=False)
            return True
        if deadline is None:
            deadline = now + health.wait_seconds
        if now >= deadline:
            health.note_waited(fell_back=True)
            logger.info(
                "the replica had not replayed this process's last write after %g s; "
                "reading from the primary",
                health.wait_seconds,
            )
            return False
        await asyncio.sleep(min(poll, deadline - now))
        poll = min(poll * 2, MAX_POLL_SECONDS)


# What a replica that went away (or never answered) raises at checkout or probe.
_REPLICA_FAILURES = (
    GalleryAnalyticsError,
    sa_exc.DBAPIError,
    sa_exc.DisconnectionError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,  # TimeoutError included: the probe is bounded
)


def _note_replica_failure(session: AsyncSession, health: ReplicaHealth) -> None:
    """A replica session ended in an error: when its connection is gone (the replica
    stopped or the network dropped), later reads go to the primary until it is back."""
    driver = session.info.get("driver")
    if driver is not None and driver.is_closed():
        health.note_down("stopped answering in the middle of a read")


def _short_reason(exc: BaseException) -> str:
    """One line for a log: the project's message, else the driver error's class."""
    if isinstance(exc, GalleryAnalyticsError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return type(exc).__name__


@asynccontextmanager
async def _closing_if_disposed(engines: _LoopEngines) -> AsyncIterator[None]:
    """Around a session or connection of ``engines``: if the Database was disposed while
    it was open, its connection went back to a retired pool as it ended; close it then."""
    try:
        yield
    finally:
        if engines.retired_pools:
            await engines.close_returned()


@asynccontextmanager
async def _driver_transaction(connection: Any, *, readonly: bool = False) -> AsyncIterator[None]:
    """A transaction on a raw asyncpg connection that never waits twice on a silent
    server: on a client-side timeout the connection is terminated instead of rolled back."""
    transaction = connection.transaction(readonly=readonly)
    try:
        await transaction.start()
        yield
    except BaseException as exc:
        if is_driver_timeout(exc):
            connection.terminate()
        elif not connection.is_closed():
            await transaction.rollback()
        raise
    try:
        await transaction.commit()
    except TimeoutError as exc:
        if is_driver_timeout(exc):
            connection.terminate()
        raise


@asynccontextmanager
async def _fail_fast_on_connection_loss(connection: Any) -> AsyncIterator[None]:
    """Turn a lost connection into DatabaseUnavailableError, even mid-COPY.

    Why: asyncpg's COPY FROM waits for the socket to accept more data with no timeout,
    and a connection lost in that wait never wakes it (the CLI hung forever when the
    server was killed during an import). asyncpg does call termination listeners when
    the connection is lost, so the task using the connection is cancelled from there,
    and the cancellation is reported as what it is.
    """
    task = asyncio.current_task()
    state = {"active": True, "lost": False}

    def on_lost(_connection: Any) -> None:
        if state["active"] and task is not None and not task.done():
            state["lost"] = True
            task.cancel()

    connection.add_termination_listener(on_lost)
    try:
        yield
    except BaseException as exc:
        # The listener runs on a later loop turn: the failure it would explain (a COPY's
        # "connection was closed", a transaction's exit) may arrive first.
        if is_driver_timeout(exc) and not state["lost"]:
            connection.terminate()  # a silent server: drop it rather than wait again
            raise not_answering_error(waited=CLIENT_BOUND) from exc
        if not (state["lost"] or connection.is_closed()):
            raise
        if state["lost"] and task is not None and task.cancelling():
            task.uncancel()  # the cancellation was ours, to wake the stuck operation
        raise DatabaseUnavailableError(
            "the connection to the database was lost in the middle of an operation (the "
            "server stopped or the network dropped); nothing of the unfinished "
            "transaction was kept"
        ) from exc
    finally:
        state["active"] = False
        connection.remove_termination_listener(on_lost)


# A pooled connection used this recently is handed out without a round trip to the
# server (HikariCP's "alive bypass window", 500 ms there): a server that went away
# since has closed the socket, which the driver has seen (is_closed()).
PING_AFTER_IDLE_SECONDS = 1.0


def _note_last_use(dbapi_connection: Any, record: Any) -> None:
    record.info["last_used"] = time.monotonic()


def _check_out_alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Pool ``checkout`` hook: hand out only a live connection.

    Why not SQLAlchemy's ``pool_pre_ping``: for asyncpg it pings inside a transaction of
    its own (BEGIN, a statement, ROLLBACK: three round trips) on every checkout, the
    largest cost of a short request. Here a connection the driver knows is closed is
    replaced at no cost, and only one idle for more than PING_AFTER_IDLE_SECONDS (when a
    restart or a dropped network may have gone unnoticed) is pinged. Raising
    DisconnectionError makes the pool discard it and try a fresh one.
    """
    idle = time.monotonic() - record.info.get("last_used", 0.0)
    record.info["last_used"] = time.monotonic()
    if dbapi_connection.driver_connection.is_closed():
        raise sa_exc.DisconnectionError("the pooled connection was closed")
    if idle > PING_AFTER_IDLE_SECONDS:
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise sa_exc.DisconnectionError("the pooled connection did not answer") from exc


def _reset_returned_connection(
    dbapi_connection: Any, record: Any, reset_state: PoolResetState
) -> None:
    """Pool ``reset`` hook: roll back, then clear everything a caller may have changed.

    Runs inside SQLAlchemy's greenlet when a connection is checked in; a failure here
    makes the pool discard the connection instead of handing it on.
    """
    if reset_state.terminate_only or not reset_state.asyncio_safe:
        return
    record.info["last_used"] = time.monotonic()
    if dbapi_connection.driver_connection.is_closed():
        return  # a dead connection: the check on its next checkout replaces it
    dbapi_connection.rollback()
    dbapi_connection.run_async(
        lambda driver: driver.execute(RESET_CONNECTION_SQL, timeout=CLIENT_TIMEOUT_MARGIN_SECONDS)
    )


# Every Database alive in this process, so a loop about to close can release its pools.
_LIVE_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()


# What else holds connections that belong to a loop (the panel cache's Redis clients):
# higher layers register here, so run_sync can release them without importing them.
_LOOP_RELEASE_HOOKS: list[Callable[[], Awaitable[None]]] = []


def on_loop_release(hook: Callable[[], Awaitable[None]]) -> None:
    """Have :func:`release_running_loop_pools` also await ``hook()`` (once per hook)."""
    if hook not in _LOOP_RELEASE_HOOKS:
        _LOOP_RELEASE_HOOKS.append(hook)


async def release_running_loop_pools() -> None:
    """Close every Database's pooled connections that belong to the running loop.

    ``run_sync`` calls this before its private loop closes: a pooled asyncpg connection
    belongs to the loop that opened it, so one left in the pool would be unclosable
    afterwards (a ``ResourceWarning`` for each). The Databases stay usable; the next
    loop that asks for a session builds fresh engines.
    """
    for database in list(_LIVE_DATABASES):
        await database.release_running_loop()
    for hook in list(_LOOP_RELEASE_HOOKS):
        await hook()
