"""Turn driver errors into the project's errors, once, at the session boundary.

asyncpg has one exception class per SQLSTATE; SQLAlchemy wraps it (``DBAPIError.orig``
is an adapter whose ``__cause__`` is the asyncpg error). We match classes, never
message text, and keep the original chained for whoever needs the detail.

The bounded waits are translated here too, so each has one message wherever it happens
(the pool, the maintenance connection, the migration engine): the wait for a free pooled
connection (SQLAlchemy's ``TimeoutError``, :class:`PoolExhaustedError`), the wait to
connect (:func:`connect_error`), a command the server never answered
(:func:`not_answering_error`) and a lock wait past ``lock_timeout`` (``LockNotAvailable``,
in :func:`translate_error`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from gallery_analytics.config import (
    ADMIN_DATABASE_URL_ENV,
    DATABASE_URL_ENV,
    MASK,
    READ_DATABASE_URL_ENV,
)
from gallery_analytics.errors import (
    ConcurrentSessionUseError,
    ConfigurationError,
    ConstraintViolationError,
    DatabaseError,
    DatabaseNotAnsweringError,
    DatabaseUnavailableError,
    GalleryAnalyticsError,
    PoolExhaustedError,
    QueryTimeoutError,
    ReadOnlyError,
)

if TYPE_CHECKING:
    from gallery_analytics.config import PoolSettings

_CONSTRAINT_WORDS: dict[type[BaseException], str] = {
    asyncpg.exceptions.ForeignKeyViolationError: "refers to a row that does not exist",
    asyncpg.exceptions.UniqueViolationError: "duplicates an existing row",
    asyncpg.exceptions.CheckViolationError: "breaks a check rule",
    asyncpg.exceptions.NotNullViolationError: "is missing a required value",
}


CONCURRENT_USE_MESSAGE = (
    "one database session was used by two tasks at once (asyncio.gather or create_task "
    "over the same session); a session is one connection and runs one statement at a "
    "time. Give each concurrent task its own session (`async with db.read_session() as "
    "session:` inside the task), or use DashboardService, which runs panels in parallel "
    "that way"
)

# asyncpg's refusal of a second operation on a connection still busy with one. It has no
# exception class of its own (an InterfaceError), hence its words.
_BUSY_CONNECTION = "another operation is in progress"


def is_concurrent_use(exc: BaseException) -> bool:
    """Whether ``exc`` is asyncpg refusing a statement because another task's statement
    still runs on the same connection."""
    cause = driver_error(exc)
    return isinstance(cause, asyncpg.exceptions.InterfaceError) and _BUSY_CONNECTION in str(cause)


def driver_error(exc: BaseException) -> BaseException:
    """The asyncpg exception behind a SQLAlchemy error, or the error itself."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        orig: BaseException = exc.orig
        return orig.__cause__ if orig.__cause__ is not None else orig
    return exc


def translate_error(
    exc: BaseException,
    *,
    read_only: bool = False,
    pool: PoolSettings | None = None,
    operation: str = "the statement",
    lock_timeout_seconds: float | None = None,
) -> GalleryAnalyticsError | None:
    """Map a database error to a project error; None when it is not a database error.

    ``read_only``: the error came from a read session, whose role may only SELECT, so a
    missing privilege means a write was attempted there. ``pool``: the bounds of the pool
    the error came from, named when no connection became free in time.
    ``operation`` and ``lock_timeout_seconds``: what gave up waiting for a lock and the
    ``lock_timeout`` it ran under (a schema upgrade sets its own), named in that message.
    """
    if isinstance(exc, GalleryAnalyticsError):
        return exc
    if isinstance(exc, sa_exc.TimeoutError):  # the pool's wait, not a statement's
        return PoolExhaustedError(_pool_exhausted_message(pool))
    cause = driver_error(exc)
    if is_concurrent_use(cause):
        return ConcurrentSessionUseError(CONCURRENT_USE_MESSAGE)
    if isinstance(cause, asyncpg.exceptions.ClientConfigurationError):
        return client_configuration_error(cause)
    if isinstance(cause, asyncpg.exceptions.ReadOnlySQLTransactionError):
        return ReadOnlyError(
            "this session is read-only; use Database.write_session() to change data"
        )
    if isinstance(cause, asyncpg.exceptions.InsufficientPrivilegeError):
        if read_only:
            return ReadOnlyError(
                f"this session is read-only: {_describe(cause)}; its database role may only "
                "read the gallery tables (Database.write_session() changes data)"
            )
        return DatabaseError(
            f"the database role in use lacks a privilege: {_describe(cause)}; schema "
            "changes and demo reloads run as the schema owner (GALLERY_ADMIN_DATABASE_URL)"
        )
    if isinstance(cause, asyncpg.exceptions.QueryCanceledError):
        return QueryTimeoutError(
            "the query was cancelled by the server (statement timeout or cancellation)"
        )
    if isinstance(cause, asyncpg.exceptions.LockNotAvailableError):
        return lock_timeout_error(operation, waited_seconds=lock_timeout_seconds)
    if isinstance(cause, asyncpg.exceptions.IntegrityConstraintViolationError):
        constraint = getattr(cause, "constraint_name", None)
        table = getattr(cause, "table_name", None)
        column = getattr(cause, "column_name", None)
        words = next(
            (text for kind, text in _CONSTRAINT_WORDS.items() if isinstance(cause, kind)),
            "breaks a constraint",
        )
        subject = ".".join(part for part in (table, column) if part) or "the row"
        detail = f" ({constraint})" if constraint else ""
        return ConstraintViolationError(f"{subject} {words}{detail}", constraint=constraint)
    if isinstance(cause, asyncpg.exceptions.UndefinedTableError):
        return DatabaseError(
            f"the database rejected the statement: {_describe(cause)}; if the gallery "
            "tables are missing, create them with `gallery-analytics db init`"
        )
    if isinstance(
        cause,
        (
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions.AdminShutdownError,
            asyncpg.exceptions.CannotConnectNowError,
            asyncpg.exceptions.TooManyConnectionsError,
            asyncpg.exceptions.InvalidCatalogNameError,
            asyncpg.exceptions.InvalidAuthorizationSpecificationError,
            asyncpg.exceptions.InvalidPasswordError,
            ConnectionError,
            OSError,
        ),
    ):
        return DatabaseUnavailableError(f"the database is unavailable: {_describe(cause)}")
    if isinstance(exc, sa_exc.DBAPIError) or isinstance(cause, asyncpg.PostgresError):
        return DatabaseError(f"the database rejected the statement: {_describe(cause)}")
    if isinstance(exc, OSError):
        return DatabaseUnavailableError(f"the database cannot be reached: {exc.strerror or exc}")
    return None


def client_configuration_error(
    cause: asyncpg.exceptions.ClientConfigurationError,
) -> ConfigurationError:
    """A URL the driver refuses before connecting (``?sslmode=bogus``, a root certificate
    that does not exist): a setting to fix, not a statement the database rejected. The
    driver's message names the parameter; one that quotes the URL's own text (a
    malformed host) is left out, since that text may hold a password."""
    detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    if not detail or "@" in detail or "://" in detail:
        detail = "the database URL is malformed"
    return ConfigurationError(
        f"the database driver refuses the connection settings: {detail}; fix the URL's "
        f"parameters in {DATABASE_URL_ENV} (or {READ_DATABASE_URL_ENV} / "
        f"{ADMIN_DATABASE_URL_ENV}, whichever is in use)"
    )


def connect_error(
    exc: OSError, *, server: str, waited_seconds: float, hint: str = ""
) -> DatabaseUnavailableError:
    """Why connecting to ``server`` failed: no answer within ``waited_seconds`` (a
    ``TimeoutError``, itself an ``OSError``) or nothing to reach; ``hint`` says what to try."""
    if isinstance(exc, TimeoutError):
        return DatabaseUnavailableError(
            f"the database at {server} did not answer within {waited_seconds:g} s"
        )
    return DatabaseUnavailableError(
        f"the database at {server} cannot be reached "
        f"({exc.strerror or type(exc).__name__}){'; ' + hint if hint else ''}"
    )


def describe_server(url: URL) -> str:
    """Host (or socket directory), port and database of ``url``, never credentials: how
    connection messages name the server."""
    host = url.host or str(url.query.get("host", "")) or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database or ''}"


def not_answering_error(*, waited: str) -> DatabaseNotAnsweringError:
    """A command the server did not answer within ``waited`` (a client-side bound, e.g.
    "300 s"); the caller has dropped the connection rather than wait again to roll back."""
    return DatabaseNotAnsweringError(
        f"the database did not answer within {waited}: the server is stopped, overloaded "
        "or unreachable; the connection was dropped"
    )


def write_through_read_error(statement: str) -> ReadOnlyError:
    """A read was given a statement that changes data (``statement``: its first keyword,
    e.g. ``INSERT``), refused before it ran."""
    return ReadOnlyError(
        f"a read cannot change data, and this query does ({statement} ...); "
        "use Database.write_session() to change data"
    )


def lock_timeout_error(
    operation: str = "the statement", *, waited_seconds: float | None = None
) -> DatabaseError:
    """``operation`` gave up waiting for a lock (``lock_timeout``, ``waited_seconds`` when
    known); its transaction was rolled back, so nothing changed. A waiting ``ALTER`` would
    block every later reader of the table, which is why such waits are bounded."""
    waited = f"more than {waited_seconds:g} s" if waited_seconds is not None else "too long"
    return DatabaseError(
        f"{operation} waited {waited} for a table in use (a long query or an open "
        "transaction) and changed nothing; run it again when that has finished"
    )


def _pool_exhausted_message(pool: PoolSettings | None) -> str:
    bounds = (
        ""
        if pool is None
        else (
            f" within {pool.timeout_seconds:g} s (pool of {pool.size} connections, "
            f"max overflow {pool.max_overflow})"
        )
    )
    return (
        f"no database connection became free{bounds}: too many concurrent queries for the "
        "pool; raise GALLERY_POOL_SIZE or GALLERY_POOL_TIMEOUT_SECONDS, or run fewer loads "
        "at once"
    )


def _describe(cause: BaseException) -> str:
    """One line: the server's own message (it never contains credentials) and its class."""
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{message} ({type(cause).__name__})" if message else type(cause).__name__


def translate_adbc_error(
    exc: Exception, *, server: str, secret: str | None = None
) -> GalleryAnalyticsError:
    """An error of the ADBC driver (extracts, :mod:`gallery_analytics.db.adbc`) as the same
    project error asyncpg's would become: the server's SQLSTATE picks asyncpg's class for
    it, so :func:`translate_error` keeps one table for both drivers. Without a SQLSTATE the
    connection failed. libpq's messages name the server, not the password; ``secret``
    (the password) is masked all the same, should a message ever quote the URI."""
    sqlstate = getattr(exc, "sqlstate", None)
    fields = {
        key.decode("ascii", "replace"): value.decode("utf-8", "replace")
        for key, value in (getattr(exc, "details", None) or [])
        if isinstance(key, bytes) and isinstance(value, bytes)
    }
    if sqlstate:
        cause = asyncpg.PostgresError.new(
            {
                "C": sqlstate,
                "S": "ERROR",
                "M": fields.get("PG_DIAG_MESSAGE_PRIMARY") or _adbc_message(exc, secret),
                "D": fields.get("PG_DIAG_MESSAGE_DETAIL", ""),
                "H": fields.get("PG_DIAG_MESSAGE_HINT", ""),
            }
        )
        translated = translate_error(cause, read_only=True)
        if translated is not None:
            return translated
    return DatabaseUnavailableError(
        f"the database at {server} cannot be reached: {_adbc_message(exc, secret)}"
    )


def _adbc_message(exc: Exception, secret: str | None) -> str:
    """The first line of ADBC's message without its status and driver prefixes
    (``IO: [libpq] Failed to connect: ...``), ``secret`` masked."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if secret:
        line = line.replace(secret, MASK)
    for prefix in ("[libpq]",):
        if prefix in line:
            line = line.split(prefix, 1)[1].strip()
    return line.removeprefix("Failed to connect:").strip() or type(exc).__name__
