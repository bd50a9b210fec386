"""Server-level chores that cannot run inside a transaction: creating and dropping databases.

They use a short-lived asyncpg connection to the maintenance database, not the pool.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import URL

from gallery_analytics.errors import ValidationError

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


async def database_exists(url: URL, name: str) -> bool:
    connection = await asyncpg.connect(driver_dsn(url, database=MAINTENANCE_DATABASE))
    try:
        found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await connection.close()
    return found is not None


async def create_database(url: URL, name: str, *, template: str | None = None) -> None:
    """CREATE DATABASE, optionally cloned from a template (a cheap file-level copy)."""
    statement = f"CREATE DATABASE {quote_identifier(name)}"
    if template is not None:
        statement += f" TEMPLATE {quote_identifier(template)}"
    connection = await asyncpg.connect(driver_dsn(url, database=MAINTENANCE_DATABASE))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def ensure_database(url: URL, name: str) -> bool:
    """Create the database if missing; True when it was created."""
    if await database_exists(url, name):
        return False
    try:
        await create_database(url, name)
    except asyncpg.exceptions.DuplicateDatabaseError:
        return False  # another process won the race; same outcome
    return True


async def drop_database(url: URL, name: str) -> None:
    connection = await asyncpg.connect(driver_dsn(url, database=MAINTENANCE_DATABASE))
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)")
    finally:
        await connection.close()
