"""The schema's version: upgrading it with Alembic, and checking it at connect time.

Schema changes are Alembic revisions (``gallery_analytics/db/migrations/versions``) and
run only when asked: ``gallery-analytics db upgrade`` (or ``db init``), and once by the
embedded demo server when it is behind. ``connect()`` only reads the revision
(:func:`check_schema`): DDL takes exclusive locks on live tables, so an application that
altered tables on every connect queued every query behind the ``ALTER``.

A database made before migrations existed (tables, no ``alembic_version``) is brought to
the baseline by the idempotent statements it used to get at every connect, then stamped
with the baseline revision; later revisions apply normally.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from gallery_analytics.config import Settings, mask_url, normalise_url
from gallery_analytics.db.database import Database
from gallery_analytics.db.sessions import CONNECT_TIMEOUT_SECONDS
from gallery_analytics.db.translate import connect_error, describe_server, translate_error
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import (
    ConfigurationError,
    GalleryAnalyticsError,
    SchemaOutdatedError,
)

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Revision files are named rev_<id>_<slug>.py: ids are short and ordered ("0002"), and a
# file name must not start with a digit to be an importable (type-checked) module.
FILE_TEMPLATE = "rev_%(rev)s_%(slug)s"

BASELINE_REVISION = "0001"
# The newest revision this code expects; tests check it is the script directory's head.
HEAD_REVISION = "0009"

UPGRADE_COMMAND = "gallery-analytics db upgrade"

# Any constant works; it only has to be the same for every process migrating the schema.
SCHEMA_LOCK_KEY = 7_151_931
# How long one DDL statement may wait for a table lock before the upgrade gives up. A
# waiting ALTER queues every later query on that table behind it, so waiting long for a
# busy table would stall the application; failing lets the user retry when it is quiet.
LOCK_TIMEOUT_SECONDS = 10
# How long an upgrade waits for another one (another process) to finish first.
UPGRADER_WAIT_SECONDS = 120
MIGRATION_COMMAND_TIMEOUT_SECONDS = 900.0

# -- the pre-Alembic schema (frozen: never follow models.py here) --------------------------

LEGACY_TABLES = frozenset(
    {
        "users",
        "artists",
        "artworks",
        "exhibitions",
        "exhibition_artworks",
        "sales",
        "exhibition_visits",
    }
)
# What the pre-Alembic create_schema ran after create_all on every connect: the columns
# and indexes added after the first schema. Together with the tables that every
# pre-Alembic database has, they make up the baseline revision.
LEGACY_UPGRADES = (
    "ALTER TABLE artists ADD COLUMN IF NOT EXISTS place_of_birth VARCHAR(300)",
    "ALTER TABLE artists ADD COLUMN IF NOT EXISTS source VARCHAR(100)",
    "ALTER TABLE artists ADD COLUMN IF NOT EXISTS source_id VARCHAR(200)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_artists_source_source_id ON artists (source, source_id)",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS depth_cm NUMERIC(10, 2)",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS year_text TEXT",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS accession_number VARCHAR(100)",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS credit_line TEXT",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS source VARCHAR(100)",
    "ALTER TABLE artworks ADD COLUMN IF NOT EXISTS source_id VARCHAR(200)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_artworks_source_source_id "
    "ON artworks (source, source_id)",
)


# -- Alembic configuration -----------------------------------------------------------------


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic's configuration for the packaged migrations (no alembic.ini needed).

    ``url`` is the database to migrate; without it, ``env.py`` falls back to the settings.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", FILE_TEMPLATE.replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = normalise_url(url)
    return config


def script_directory() -> ScriptDirectory:
    """The revision scripts (reads files: call it off the event loop)."""
    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision id this code ships (reads files: call it off the event loop)."""
    return frozenset(script.revision for script in script_directory().walk_revisions())


def resolve_migration_url(config: Config, x_url: str | None = None) -> URL:
    """The database ``env.py`` migrates: the URL given by the caller, ``-x url=...``,
    ``sqlalchemy.url``, then the settings (admin URL first: migrations run as the schema
    owner), then the embedded server's owner role. The settings are the caller's
    (``config.attributes["settings"]``); only the plain ``alembic`` command, an entry
    point, reads them from the environment."""
    given: Any = config.attributes.get("url")
    if given is not None:
        return normalise_url(given)
    configured = x_url or config.get_main_option("sqlalchemy.url")
    if configured:
        return normalise_url(configured)
    given_settings = config.attributes.get("settings")
    settings = given_settings if isinstance(given_settings, Settings) else Settings.from_env()
    if settings.schema_owner_url is not None:
        return settings.schema_owner_url
    from gallery_analytics.db.connect import embedded_urls  # connect imports this module

    return asyncio.run(embedded_urls(settings)).owner


def migration_engine(url: URL) -> AsyncEngine:
    """An unpooled engine with one connection for one upgrade."""
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def connect_driver() -> Any:
        try:
            return await asyncpg.connect(
                dsn,
                timeout=CONNECT_TIMEOUT_SECONDS,
                # Schema changes on big tables (an index over millions of rows) may take
                # minutes, but never forever.
                command_timeout=MIGRATION_COMMAND_TIMEOUT_SECONDS,
                server_settings={
                    "application_name": "gallery-analytics migrations",
                    "TimeZone": "UTC",
                },
            )
        except OSError as exc:  # TimeoutError included
            raise connect_error(
                exc,
                server=describe_server(url),
                waited_seconds=CONNECT_TIMEOUT_SECONDS,
                hint="is the server running?",
            ) from exc

    return create_async_engine(
        url.set(drivername="postgresql+asyncpg"), poolclass=NullPool, async_creator=connect_driver
    )


def prepare_migration(
    connection: Connection,
    migration_context: MigrationContext,
    script: ScriptDirectory,
    *,
    adopt_legacy: bool,
) -> None:
    """Inside the migration's transaction, before Alembic reads the current revision:
    serialise upgraders, bound lock waits, and adopt a pre-Alembic database."""
    # Two notebooks starting at once: the second waits here (bounded, like every wait),
    # then finds nothing to do.
    connection.execute(text(f"SET LOCAL lock_timeout = '{UPGRADER_WAIT_SECONDS}s'"))
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
    connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
    if adopt_legacy:
        _adopt_legacy_schema(connection, migration_context, script)


def _adopt_legacy_schema(
    connection: Connection, migration_context: MigrationContext, script: ScriptDirectory
) -> None:
    present = set(inspect(connection).get_table_names())
    if "alembic_version" in present or not present & LEGACY_TABLES:
        return  # already versioned, or empty (the baseline revision creates everything)
    missing = sorted(LEGACY_TABLES - present)
    if missing:
        raise ConfigurationError(
            f"the database has some gallery tables but not {', '.join(missing)}; it was not "
            "made by gallery-analytics, so it is not migrated (use an empty database)"
        )
    logger.info("adopting a schema from before migrations: baseline %s", BASELINE_REVISION)
    for statement in LEGACY_UPGRADES:
        connection.execute(text(statement))
    migration_context.stamp(script, BASELINE_REVISION)


# -- upgrading -------------------------------------------------------------------------------


async def upgrade_schema(url: str | URL, *, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (default: the newest), atomically.

    ``url`` is a role allowed to change the schema (the schema owner), which is often not
    the application's role, hence a URL and not a Database. Alembic is synchronous and
    reads files, so it runs in a worker thread with its own event loop and connection.
    """
    reject_awaitable(url, field="url")
    target = normalise_url(url)
    try:
        await asyncio.to_thread(_upgrade_blocking, target, revision)
    except GalleryAnalyticsError:
        raise
    except (sa_exc.DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        translated = translate_error(
            exc,
            operation=f"the schema upgrade of {mask_url(target)}",
            lock_timeout_seconds=LOCK_TIMEOUT_SECONDS,
        )
        if translated is None:
            raise
        raise translated from exc


# Alembic's `context` and `op` are process-wide proxies, so two upgrades in one process
# (two threads) would run each other's operations; the advisory lock only serialises
# processes, this lock serialises threads.
_ALEMBIC_LOCK = threading.Lock()


def _upgrade_blocking(url: URL, revision: str) -> None:
    try:
        with _ALEMBIC_LOCK:
            command.upgrade(alembic_config(url), revision)
    except CommandError as exc:  # e.g. a revision this code does not know
        raise ConfigurationError(f"schema upgrade of {mask_url(url)}: {exc}") from exc


# -- checking ---------------------------------------------------------------------------------


async def schema_revisions(db: Database) -> tuple[bool, frozenset[str]]:
    """(whether any gallery table exists, the revisions in ``alembic_version``): one
    read-only query round, no lock on any gallery table.

    On the primary, where migrations run: a streaming replica that has not replayed the
    upgrade just made would report the schema missing (``connect()`` upgrades the embedded
    server, then checks again).
    """
    async with db.read_session(primary=True) as session:
        row = (
            await session.execute(
                text(
                    "SELECT to_regclass('alembic_version') IS NOT NULL AS versioned, "
                    "to_regclass('artists') IS NOT NULL AS has_tables"
                )
            )
        ).one()
        if not row.versioned:
            return bool(row.has_tables), frozenset()
        revisions = (await session.execute(text("SELECT version_num FROM alembic_version"))).all()
    return True, frozenset(str(version) for (version,) in revisions)


async def check_schema(db: Database) -> None:
    """Raise :class:`SchemaOutdatedError` unless ``db`` is at :data:`HEAD_REVISION`.

    Reads only (the revision table); never waits for a lock a reader would not.
    """
    reject_awaitable(db, field="db")
    has_tables, revisions = await schema_revisions(db)
    if revisions == {HEAD_REVISION}:
        return
    where = f"the database {db.url.database or mask_url(db.url)!r}"
    if not revisions:
        state = "has a schema from before migrations" if has_tables else "has no gallery schema"
        raise SchemaOutdatedError(
            f"{where} {state}; run `{UPGRADE_COMMAND}` to bring it to revision {HEAD_REVISION}",
            current=None,
            head=HEAD_REVISION,
        )
    known = await asyncio.to_thread(known_revisions)
    unknown = sorted(revisions - known)
    current = ", ".join(sorted(revisions))
    if unknown:
        raise SchemaOutdatedError(
            f"{where} is at schema revision {current}, newer than this version of "
            f"gallery-analytics knows (up to {HEAD_REVISION}); install the newer "
            "gallery-analytics that migrated it (do not downgrade the database)",
            current=current,
            head=HEAD_REVISION,
            ahead=True,
        )
    raise SchemaOutdatedError(
        f"{where} is at schema revision {current}, this version of gallery-analytics needs "
        f"{HEAD_REVISION}; run `{UPGRADE_COMMAND}`",
        current=current,
        head=HEAD_REVISION,
    )
