"""Reads cannot write, whatever SQL they send; application connections are not superusers.

The read side is attacked through every way it hands out a connection (ORM session,
Core connection, raw driver connection, extract_frame) with statements a hostile
analyst could send: flipping the transaction to READ WRITE, committing and starting
over, writing server files, large objects, temporary tables, DDL. Afterwards every
table's checksum is unchanged and nothing was created.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from gallery_analytics import Database
from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.errors import ReadOnlyError
from gallery_analytics.frames import extract_frame
from tests.helpers import table_checksums

MARKER = "least-privilege-probe"
INSERT_USER = (
    f"INSERT INTO users (id, email, display_name) VALUES (gen_random_uuid(), '{MARKER}@x', 'x')"
)

# (id, statements run one after another on one read connection)
HOSTILE_WRITES: list[tuple[str, list[str]]] = [
    (
        "plain-insert",
        [INSERT_USER],
    ),
    (
        "set-transaction-read-write",
        [
            "SET TRANSACTION READ WRITE",
            INSERT_USER,
            "COMMIT",
        ],
    ),
    (
        "commit-then-insert",
        [
            "COMMIT",
            INSERT_USER,
        ],
    ),
    (
        "session-read-write-default",
        [
            "COMMIT",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "BEGIN",
            "UPDATE artists SET name = 'overwritten'",
            "COMMIT",
        ],
    ),
    ("update", ["UPDATE artworks SET title = 'overwritten'"]),
    ("delete", ["DELETE FROM sales"]),
    ("truncate", ["TRUNCATE exhibition_visits"]),
    ("create-table", ["COMMIT", "BEGIN READ WRITE", "CREATE TABLE probe_table (x int)", "COMMIT"]),
    ("create-temp-table", ["COMMIT", "BEGIN READ WRITE", "CREATE TEMP TABLE probe_temp (x int)"]),
    ("large-object", ["COMMIT", "BEGIN READ WRITE", "SELECT lo_from_bytea(0, 'x')", "COMMIT"]),
    ("copy-to-server-file", ["COPY (SELECT 'x') TO '{server_file}'"]),
    (
        "do-block",
        [
            "COMMIT",
            "BEGIN READ WRITE",
            "DO $$ BEGIN DELETE FROM exhibition_artworks; END $$",
            "COMMIT",
        ],
    ),
    ("set-role-to-writer", ["SET ROLE gallery_writer", "DELETE FROM sales"]),
    ("alter-table", ["COMMIT", "BEGIN READ WRITE", "ALTER TABLE artists ADD COLUMN probe int"]),
]


@asynccontextmanager
async def _orm_session(db: Database) -> AsyncIterator[Callable[[str], Awaitable[Any]]]:
    async with db.read_session() as session:

        async def run(sql: str) -> Any:
            return await session.execute(text(sql))

        yield run


@asynccontextmanager
async def _core_connection(db: Database) -> AsyncIterator[Callable[[str], Awaitable[Any]]]:
    async with db.connection() as connection, connection.begin():

        async def run(sql: str) -> Any:
            return await connection.execute(text(sql))

        yield run


@asynccontextmanager
async def _driver_connection(db: Database) -> AsyncIterator[Callable[[str], Awaitable[Any]]]:
    async with db.driver_connection() as connection, connection.transaction(readonly=True):

        async def run(sql: str) -> Any:
            return await connection.execute(sql)

        yield run


ENTRY_POINTS = {
    "read_session": _orm_session,
    "connection": _core_connection,
    "driver_connection": _driver_connection,
}


async def _state(db: Database, server_url: URL) -> dict[str, Any]:
    """Everything a write could have changed: rows, tables, columns, large objects."""
    import asyncpg

    database = db.url.database
    connection = await asyncpg.connect(driver_dsn(server_url, database=database))
    try:
        catalog = {
            "tables": await connection.fetchval(
                "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace"
            ),
            "columns": await connection.fetchval(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
            ),
            "large_objects": await connection.fetchval(
                "SELECT count(*) FROM pg_largeobject_metadata"
            ),
        }
    finally:
        await connection.close()
    return {**catalog, **await table_checksums(db)}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("probe", "statements"), HOSTILE_WRITES, ids=[p for p, _ in HOSTILE_WRITES]
)
async def test_a_read_cannot_write(
    fresh_db: Database,
    server_url: URL,
    tmp_path: Path,
    entry_point: str,
    probe: str,
    statements: list[str],
) -> None:
    server_file = Path("/tmp") / f"gallery-probe-{uuid.uuid4().hex}"
    before = await _state(fresh_db, server_url)
    with pytest.raises(ReadOnlyError) as refused:
        async with ENTRY_POINTS[entry_point](fresh_db) as run:
            for statement in statements:
                await run(statement.format(server_file=server_file))
    assert "Traceback" not in str(refused.value)
    assert not await asyncio.to_thread(server_file.exists), "a read wrote a file on the server"
    assert await _state(fresh_db, server_url) == before
    assert fresh_db.pool_status()["checked_out"] == 0


# The probes that defeat a transaction flag: through a superuser's BEGIN READ ONLY
# session (the read side before roles) each of them really writes. This proves the
# probes above are real writes, so their refusal means something.
FLAG_BYPASSES = [
    "set-transaction-read-write",
    "commit-then-insert",
    "session-read-write-default",
    "create-table",
    "large-object",
    "copy-to-server-file",
    "do-block",
]


@pytest.mark.parametrize("probe", FLAG_BYPASSES)
async def test_the_probes_write_through_a_transaction_flag_alone(
    fresh_db: Database, server_url: URL, probe: str
) -> None:
    statements = dict(HOSTILE_WRITES)[probe]
    server_file = Path("/tmp") / f"gallery-probe-{uuid.uuid4().hex}"
    try:
        async with Database(server_url.set(database=fresh_db.url.database)) as superuser:
            before = await _state(fresh_db, server_url)
            async with _orm_session(superuser) as run:
                for statement in statements:
                    await run(statement.format(server_file=server_file))
                await run("COMMIT")
            wrote_file = await asyncio.to_thread(server_file.exists)
            assert wrote_file or await _state(fresh_db, server_url) != before
    finally:
        await asyncio.to_thread(server_file.unlink, missing_ok=True)


@pytest.mark.parametrize(
    "sql",
    [
        INSERT_USER + " RETURNING id",
        "WITH gone AS (DELETE FROM sales RETURNING id) SELECT count(*) FROM gone",
        "SELECT lo_from_bytea(0, 'x')",
    ],
)
async def test_extract_frame_cannot_write(fresh_db: Database, server_url: URL, sql: str) -> None:
    before = await _state(fresh_db, server_url)
    with pytest.raises(ReadOnlyError):
        await extract_frame(fresh_db, sql)
    assert await _state(fresh_db, server_url) == before


async def test_the_documented_write_raises_read_only_error(fresh_db: Database) -> None:
    """The issue's reproduction: SET TRANSACTION READ WRITE, INSERT, commit()."""
    with pytest.raises(ReadOnlyError, match="read-only"):
        async with fresh_db.read_session() as session:
            await session.execute(text("SET TRANSACTION READ WRITE"))
            await session.execute(text(INSERT_USER))
            await session.commit()
    async with fresh_db.write_session() as session:
        found = await session.scalar(
            text("SELECT count(*) FROM users WHERE email = :e"), {"e": f"{MARKER}@x"}
        )
    assert found == 0


@pytest.mark.parametrize("side", ["read", "write"])
async def test_application_connections_are_not_superusers(fresh_db: Database, side: str) -> None:
    context = fresh_db.read_session() if side == "read" else fresh_db.write_session()
    async with context as session:
        row = (
            await session.execute(
                text(
                    "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, "
                    "pg_has_role(current_user, 'pg_write_server_files', 'USAGE') AS files "
                    "FROM pg_roles WHERE rolname = current_user"
                )
            )
        ).one()
    assert tuple(row) == (False, False, False, False, False)


async def test_connect_on_the_embedded_server_uses_the_roles(
    tmp_path: Path,
) -> None:
    from gallery_analytics import connect
    from gallery_analytics.config import Settings
    from gallery_analytics.db.embedded import EmbeddedPostgres

    home = tmp_path / "gallery"
    settings = Settings(embedded_dir=home)
    db = await connect(settings=settings)
    try:
        async with db:
            async with db.read_session() as session:
                reader = await session.scalar(text("SELECT current_user"))
            async with db.write_session() as session:
                writer = await session.scalar(text("SELECT current_user"))
                superuser = await session.scalar(
                    text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                )
            with pytest.raises(ReadOnlyError):
                async with db.read_session() as session:
                    await session.execute(text("SET TRANSACTION READ WRITE"))
                    await session.execute(text("DELETE FROM sales"))
    finally:
        await asyncio.to_thread(EmbeddedPostgres(home).stop)
    assert (reader, writer, superuser) == ("gallery_reader", "gallery_writer", False)
