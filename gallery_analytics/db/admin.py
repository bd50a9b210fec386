"""Server-level chores that cannot run inside a transaction: creating and dropping databases.

They use a short-lived asyncpg connection (:func:`maintenance_connection`), not the pool:
bounded like every other wait, and failing with one project error, not a driver one. The
messages are :mod:`gallery_analytics.db.translate`'s, the same as the pool's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL

from gallery_analytics.db.replicas import PROBE_SQL, Probe, lsn_of
from gallery_analytics.db.sessions import CONNECT_TIMEOUT_SECONDS
from gallery_analytics.db.translate import (
    connect_error,
    describe_server,
    not_answering_error,
    translate_error,
)
from gallery_analytics.errors import ValidationError

# Creating a database from a template copies its files: allow more than a statement.
ADMIN_COMMAND_TIMEOUT_SECONDS = 300.0

MAINTENANCE_DATABASE = "postgres"


def driver_dsn(url: URL, *, database: str | None = None) -> str:
    """A DSN asyncpg (and psql) understand: the SQLAlchemy driver suffix removed."""
    target = url.set(drivername="postgresql")
    if database is not None:
        target = target.set(database=database)
    return target.render_as_string(hide_password=False)


def quote_identifier(name: str) -> str:
    """Quote a database name for DDL, where bound parameters are not allowed."""
    if not name or "\x00" in name or len(name.encode()) > 63:
        raise ValidationError("database", "expected a name of 1 to 63 bytes", value=name)
    return '"' + name.replace('"', '""') + '"'


@asynccontextmanager
async def maintenance_connection(
    url: URL, *, database: str | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """A short-lived connection for administrative work (``database``, default the URL's):
    connecting gives up after the connect timeout, every command is bounded, and driver
    errors arrive as project errors."""
    target = url if database is None else url.set(database=database)
    try:
        connection = await asyncpg.connect(
            driver_dsn(target),
            timeout=CONNECT_TIMEOUT_SECONDS,
            command_timeout=ADMIN_COMMAND_TIMEOUT_SECONDS,
        )
    except OSError as exc:  # TimeoutError included
        raise connect_error(
            exc,
            server=describe_server(target),
            waited_seconds=CONNECT_TIMEOUT_SECONDS,
            hint="is the server running?",
        ) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _translated(exc) from exc
    try:
        yield connection
    except TimeoutError as exc:
        connection.terminate()  # a silent server: waiting to close it would wait again
        raise not_answering_error(
            waited=f"{ADMIN_COMMAND_TIMEOUT_SECONDS:g} s (the bound on an administrative command)"
        ) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _translated(exc) from exc
    finally:
        if not connection.is_closed():
            await connection.close(timeout=CONNECT_TIMEOUT_SECONDS)


def _translated(exc: BaseException) -> BaseException:
    translated = translate_error(exc)
    return translated if translated is not None else exc


async def database_exists(url: URL, name: str) -> bool:
    async with maintenance_connection(url, database=MAINTENANCE_DATABASE) as connection:
        found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    return found is not None


async def create_database(url: URL, name: str, *, template: str | None = None) -> None:
    """CREATE DATABASE, optionally cloned from a template (a cheap file-level copy)."""
    statement = f"CREATE DATABASE {quote_identifier(name)}"
    if template is not None:
        statement += f" TEMPLATE {quote_identifier(template)}"
    async with maintenance_connection(url, database=MAINTENANCE_DATABASE) as connection:
        await connection.execute(statement)


async def ensure_database(url: URL, name: str) -> bool:
    """Create the database if missing; True when it was created."""
    async with maintenance_connection(url, database=MAINTENANCE_DATABASE) as connection:
        if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        try:
            await connection.execute(f"CREATE DATABASE {quote_identifier(name)}")
        except asyncpg.exceptions.DuplicateDatabaseError:
            return False  # another process won the race; same outcome
    return True


async def drop_database(url: URL, name: str) -> None:
    async with maintenance_connection(url, database=MAINTENANCE_DATABASE) as connection:
        await connection.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)")


async def replay_lag(primary_url: URL, replica_url: URL) -> tuple[int, float]:
    """How far a streaming replica is behind its primary: WAL bytes not yet replayed, and
    seconds (0 when it has replayed all it received; see ``db.replicas.PROBE_SQL``)."""
    async with maintenance_connection(primary_url) as primary:
        written = lsn_of(await primary.fetchval("SELECT pg_current_wal_lsn()"))
    async with maintenance_connection(replica_url) as replica:
        probe = Probe.from_row(await replica.fetchrow(PROBE_SQL))
    replayed = written if probe.replayed_lsn is None else probe.replayed_lsn
    return max(written - replayed, 0), probe.lag_seconds
