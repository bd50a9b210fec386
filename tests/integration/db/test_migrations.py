"""Schema migrations (Alembic): models and revisions agree, pre-Alembic databases are
adopted, upgrades are serialised, and ``connect()`` never issues DDL (issue 10, finding 8).

``connect()`` used to run ``create_all`` and ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``
on every call: the ALTER waits for an exclusive lock behind any open reader, and every
later query queues behind it. Now it only reads the revision; DDL runs in ``db upgrade``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

import gallery_analytics.db.schema as schema
from gallery_analytics.config import Settings
from gallery_analytics.db.admin import create_database, driver_dsn, drop_database
from gallery_analytics.db.connect import application_database, connect, embedded_server_url
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres
from gallery_analytics.db.models import Base
from gallery_analytics.db.roles import provision_database
from gallery_analytics.db.schema import (
    HEAD_REVISION,
    UPGRADE_COMMAND,
    alembic_config,
    check_schema,
    migration_engine,
    upgrade_schema,
)
from gallery_analytics.errors import ConfigurationError, DatabaseError, SchemaOutdatedError
from tests.conftest import run_cli, unique_database_name

# Read at import: file reads inside async tests would block the event loop.
PRE_ALEMBIC_SQL = (Path(__file__).parents[2] / "data" / "pre_alembic_schema.sql").read_text()
# The first release had no import columns: what UPGRADES added on top of create_all.
FIRST_RELEASE_SQL = """
ALTER TABLE artists DROP COLUMN place_of_birth, DROP COLUMN source, DROP COLUMN source_id;
ALTER TABLE artworks DROP COLUMN depth_cm, DROP COLUMN year_text,
    DROP COLUMN accession_number, DROP COLUMN credit_line, DROP COLUMN source,
    DROP COLUMN source_id;
"""
# A hang detector, not a timing assertion: a connect() that takes a table lock waits for
# the lock holder forever (or until its 30 s statement timeout).
HANG_SECONDS = 20


@asynccontextmanager
async def new_database(server_url: URL, *, sql: str = "") -> AsyncIterator[Database]:
    """A private database owned by the application roles, after ``sql`` ran as superuser
    (the way a pre-roles, pre-Alembic database came to be)."""
    name = unique_database_name("gallery_migrations")
    await create_database(server_url, name)
    try:
        if sql:
            await _execute(server_url.set(database=name), sql)
        await provision_database(server_url, name)
        async with application_database(server_url, name) as db:
            yield db
    finally:
        await drop_database(server_url, name)


async def _execute(url: URL, sql: str) -> None:
    connection = await asyncpg.connect(driver_dsn(url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fetch(url: URL, query: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(driver_dsn(url))
    try:
        return [tuple(row) for row in await connection.fetch(query)]
    finally:
        await connection.close()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_name": lambda name, kind, _parent: (
                not (kind == "table" and name == "alembic_version")
            ),
        },
    )
    return list(compare_metadata(context, Base.metadata))


async def autogenerate_differences(url: URL) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write for this database."""
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_differences)
    finally:
        await engine.dispose()


# Everything autogenerate does not compare (CHECKs, enum labels, index definitions) plus
# what it does, straight from the catalog.
CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, udt_name, character_maximum_length,
               numeric_precision, numeric_scale, is_nullable, column_default
        FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name <> 'alembic_version'
        ORDER BY 1, 2""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace AND conrelid <> 0
          AND conrelid::regclass::text <> 'alembic_version'
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY 1, 2""",
    "enums": """
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE t.typnamespace = 'public'::regnamespace GROUP BY 1 ORDER BY 1""",
}


async def catalog(url: URL) -> dict[str, list[tuple[Any, ...]]]:
    return {name: await _fetch(url, query) for name, query in CATALOG_QUERIES.items()}


@pytest.fixture(scope="module")
async def models_catalog(server_url: URL) -> dict[str, list[tuple[Any, ...]]]:
    """The catalog of a database made straight from models.py (create_all)."""
    name = unique_database_name("gallery_models")
    await create_database(server_url, name)
    url = server_url.set(database=name)
    try:
        engine = migration_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
        finally:
            await engine.dispose()
        return await catalog(url)
    finally:
        await drop_database(server_url, name)


async def revisions(url: URL) -> list[str]:
    return [row[0] for row in await _fetch(url, "SELECT version_num FROM alembic_version")]


# -- the revisions themselves -------------------------------------------------------------


async def test_migrations_create_exactly_the_models(
    server_url: URL, models_catalog: dict[str, list[tuple[Any, ...]]]
) -> None:
    """Upgrade an empty database to head: autogenerate finds no difference from models.py
    (types and server defaults included), and the catalog (CHECKs, enums, indexes, names)
    equals that of create_all."""
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url)
        assert await revisions(db.admin_url) == [HEAD_REVISION]
        assert await autogenerate_differences(db.admin_url) == []
        assert await catalog(db.admin_url) == models_catalog
        await check_schema(db)  # the application's reader can read the revision


async def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(
    server_url: URL, models_catalog: dict[str, list[tuple[Any, ...]]]
) -> None:
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url)
        await asyncio.to_thread(command.downgrade, alembic_config(db.admin_url), "base")
        left = await catalog(db.admin_url)
        assert left == {name: [] for name in CATALOG_QUERIES}
        await upgrade_schema(db.admin_url)
        assert await catalog(db.admin_url) == models_catalog


@pytest.mark.parametrize(
    "legacy_sql",
    [
        pytest.param(PRE_ALEMBIC_SQL, id="create_schema-of-today"),
        pytest.param(PRE_ALEMBIC_SQL + FIRST_RELEASE_SQL, id="first-release"),
    ],
)
async def test_a_pre_alembic_database_is_adopted_with_its_rows(
    server_url: URL, models_catalog: dict[str, list[tuple[Any, ...]]], legacy_sql: str
) -> None:
    """Tables without alembic_version (today's create_schema, or the first release's,
    without the import columns): brought to the baseline, stamped, rows kept."""
    rows = """
        INSERT INTO users (id, email, display_name)
        VALUES ('00000000-0000-4000-8000-000000000001', 'a@example.org', 'A');
        INSERT INTO artists (id, owner_id, name)
        VALUES ('00000000-0000-4000-8000-000000000002',
                '00000000-0000-4000-8000-000000000001', 'Kept');
    """
    async with new_database(server_url, sql=legacy_sql + rows) as db:
        with pytest.raises(SchemaOutdatedError, match="from before migrations"):
            await check_schema(db)
        await upgrade_schema(db.admin_url)
        assert await revisions(db.admin_url) == [HEAD_REVISION]
        assert await autogenerate_differences(db.admin_url) == []
        assert await catalog(db.admin_url) == models_catalog
        assert await _fetch(db.admin_url, "SELECT name FROM artists") == [("Kept",)]
        await check_schema(db)
        await upgrade_schema(db.admin_url)  # idempotent
        assert await revisions(db.admin_url) == [HEAD_REVISION]


async def test_a_database_with_only_some_gallery_tables_is_refused(server_url: URL) -> None:
    async with new_database(server_url, sql="CREATE TABLE artists (id uuid)") as db:
        with pytest.raises(ConfigurationError, match="not migrated"):
            await upgrade_schema(db.admin_url)
        assert await _fetch(db.admin_url, "SELECT to_regclass('alembic_version')") == [(None,)]


async def test_concurrent_upgrades_are_serialised(server_url: URL) -> None:
    """Two notebooks starting at once: both upgrades succeed, the schema is made once."""
    async with new_database(server_url) as db:
        await asyncio.gather(*(upgrade_schema(db.admin_url) for _ in range(3)))
        assert await revisions(db.admin_url) == [HEAD_REVISION]
        assert await autogenerate_differences(db.admin_url) == []


async def test_upgrade_gives_up_on_a_busy_table_instead_of_queueing_everyone(
    server_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiting ALTER blocks every later reader of its table, so an upgrade's lock waits
    are bounded: it fails with one line and changes nothing."""
    monkeypatch.setattr(schema, "LOCK_TIMEOUT_SECONDS", 1)
    async with new_database(server_url, sql=PRE_ALEMBIC_SQL + FIRST_RELEASE_SQL) as db:
        holder = await asyncpg.connect(driver_dsn(server_url.set(database=db.url.database)))
        try:
            async with holder.transaction():
                await holder.execute("LOCK TABLE artists IN ACCESS SHARE MODE")  # a reader
                with pytest.raises(DatabaseError, match="waited more than 1 s"):
                    await upgrade_schema(db.admin_url)
        finally:
            await holder.close()
        assert await _fetch(db.admin_url, "SELECT to_regclass('alembic_version')") == [(None,)]


# -- connect(): checks the revision, never DDL --------------------------------------------


@pytest.fixture(scope="module")
def embedded_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A private embedded server, as a fresh machine's `connect()` with nothing configured
    would start it."""
    home = tmp_path_factory.mktemp("migrations-embedded") / "gallery"
    try:
        yield Settings(embedded_dir=home)
    finally:
        EmbeddedPostgres(home).stop()


async def _hold_conflicting_lock(url: URL) -> asyncpg.Connection:
    """Another transaction holds a lock that lets readers through but not ALTER TABLE."""
    holder = await asyncpg.connect(driver_dsn(url))
    await holder.execute("BEGIN; LOCK TABLE artists IN SHARE MODE")
    return holder


async def _connect_while_locked(
    lock_url: URL, *, url: URL | None = None, settings: Settings | None = None
) -> None:
    holder = await _hold_conflicting_lock(lock_url)
    try:
        async with (
            await asyncio.wait_for(connect(url, settings=settings), HANG_SECONDS) as db,
            db.read_session() as session,  # and reads still get through
        ):
            assert await session.scalar(text("SELECT count(*) FROM artists")) >= 0
    finally:
        await holder.close()


async def test_connect_to_the_embedded_server_runs_no_ddl(embedded_settings: Settings) -> None:
    """Regression (finding 8): the embedded server at head, a SHARE lock on artists held
    by another transaction; connect() completes (today it waits on ALTER TABLE)."""
    # A fresh server: migrated once.
    async with await connect(settings=embedded_settings) as first:
        await check_schema(first)
    superuser = (await embedded_server_url(embedded_settings)).set(database="gallery")
    assert await revisions(superuser) == [HEAD_REVISION]
    await _connect_while_locked(superuser, settings=embedded_settings)


async def test_connect_to_a_configured_database_runs_no_ddl(
    server_url: URL, fresh_db: Database
) -> None:
    await _connect_while_locked(server_url.set(database=fresh_db.url.database), url=fresh_db.url)


@pytest.mark.parametrize(
    ("setup_sql", "state"),
    [
        pytest.param("", "has no gallery schema", id="empty"),
        pytest.param(PRE_ALEMBIC_SQL, "from before migrations", id="pre-alembic"),
    ],
)
async def test_connect_to_a_database_behind_head_names_the_upgrade_command(
    server_url: URL, setup_sql: str, state: str
) -> None:
    """Regression (finding 8): a configured database without the current revision fails
    at connect() with one line naming `gallery-analytics db upgrade`, and is left as is."""
    async with new_database(server_url, sql=setup_sql) as db:
        before = await catalog(db.admin_url)
        with pytest.raises(SchemaOutdatedError) as info:
            await asyncio.wait_for(connect(db.url, read_url=db.read_url), HANG_SECONDS)
        message = str(info.value)
        assert f"run `{UPGRADE_COMMAND}`" in message
        assert state in message
        assert "\n" not in message
        assert not info.value.ahead
        assert await catalog(db.admin_url) == before
        assert await _fetch(db.admin_url, "SELECT to_regclass('alembic_version')") == [(None,)]


async def test_connect_names_the_upgrade_command_for_an_older_revision(
    server_url: URL,
) -> None:
    """A database one revision behind (0001, before the dataset table): connect() names
    the command and changes nothing; the upgrade then brings it to head."""
    async with new_database(server_url) as db:
        await asyncio.to_thread(command.upgrade, alembic_config(db.admin_url), "0001")
        with pytest.raises(
            SchemaOutdatedError,
            match=f"at schema revision 0001, .* needs {HEAD_REVISION}; run `{UPGRADE_COMMAND}`",
        ):
            await connect(db.url, read_url=db.read_url)
        assert await revisions(db.admin_url) == ["0001"]
        await upgrade_schema(db.admin_url)
        assert await revisions(db.admin_url) == [HEAD_REVISION]


async def test_a_database_ahead_of_this_code_is_a_different_error(
    server_url: URL, embedded_settings: Settings
) -> None:
    """Migrated by a newer gallery-analytics: connect() says so and never tries to
    "upgrade" it, not even the embedded server."""
    async with new_database(server_url) as db:
        await upgrade_schema(db.admin_url)
        await _execute(db.admin_url, "UPDATE alembic_version SET version_num = '9999_future'")
        with pytest.raises(SchemaOutdatedError) as info:
            await connect(db.url, read_url=db.read_url)
        assert info.value.ahead
        assert "newer than this version of gallery-analytics" in str(info.value)
        assert UPGRADE_COMMAND not in str(info.value)

    embedded = await connect(settings=embedded_settings)  # migrated to head, if new
    await embedded.dispose()
    superuser = (await embedded_server_url(embedded_settings)).set(database="gallery")
    await _execute(superuser, "UPDATE alembic_version SET version_num = '9999_future'")
    try:
        with pytest.raises(SchemaOutdatedError, match="newer than"):
            await connect(settings=embedded_settings)
        assert await revisions(superuser) == ["9999_future"]
    finally:
        await _execute(superuser, f"UPDATE alembic_version SET version_num = '{HEAD_REVISION}'")


# -- the CLI ------------------------------------------------------------------------------


async def test_cli_db_upgrade_is_the_only_way_a_configured_database_gets_a_schema(
    server_url: URL,
) -> None:
    """seed refuses (one line naming the command, nothing created); db upgrade and its
    synonym db init migrate, idempotently; then seed works."""
    async with new_database(server_url) as db:
        environment = {
            "GALLERY_DATABASE_URL": db.url.render_as_string(hide_password=False),
            "GALLERY_READ_DATABASE_URL": db.read_url.render_as_string(hide_password=False),
            "GALLERY_ADMIN_DATABASE_URL": db.admin_url.render_as_string(hide_password=False),
        }
        refused = await asyncio.to_thread(
            run_cli, "seed", "--size", "small", "--no-progress", env=environment
        )
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert f"run `{UPGRADE_COMMAND}`" in refused.stderr
        assert await _fetch(db.admin_url, "SELECT to_regclass('artists')") == [(None,)]

        for action in ("upgrade", "init", "upgrade"):
            result = await asyncio.to_thread(run_cli, "db", action, env=environment)
            assert result.returncode == 0, result.stderr
            assert "schema ready in" in result.stdout
            assert f"(revision {HEAD_REVISION})" in result.stdout
        assert await revisions(db.admin_url) == [HEAD_REVISION]

        seeded = await asyncio.to_thread(
            run_cli, "seed", "--size", "small", "--no-progress", env=environment
        )
        assert seeded.returncode == 0, seeded.stderr
