"""Alembic's environment for the gallery schema.

Used both by :func:`gallery_analytics.db.schema.upgrade_schema` (which passes the URL in
``config.attributes["url"]``) and by the plain ``alembic`` command from a source checkout
(URL from ``-x url=...``, else ``GALLERY_ADMIN_DATABASE_URL`` / ``GALLERY_DATABASE_URL``,
else the embedded server's owner role).

Alembic is synchronous and reads the revision files from disk, so everything blocking
happens here before an event loop exists; the loop (its own, in the calling thread) only
runs the migration itself on one asyncpg connection.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import URL, Connection

from gallery_analytics.db.models import Base
from gallery_analytics.db.schema import (
    migration_engine,
    prepare_migration,
    resolve_migration_url,
)

config = context.config


def run_migrations_offline(url: URL) -> None:
    """``alembic upgrade --sql``: print the DDL instead of running it."""
    context.configure(
        url=url.set(drivername="postgresql"),
        target_metadata=Base.metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    """One transaction: the schema lock, adopting a pre-Alembic database, the revisions."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        # Only commands that move the database (upgrade, stamp) may adopt a legacy schema;
        # `alembic current` or `check` must not change anything.
        prepare_migration(
            connection,
            context.get_context(),
            context.script,
            adopt_legacy=context.get_context().opts.get("destination_rev") is not None,
        )
        context.run_migrations()


async def run_migrations_online(url: URL) -> None:
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def main() -> None:
    if config.config_file_name is not None and "url" not in config.attributes:
        fileConfig(config.config_file_name)  # the alembic CLI: log what it runs
    url = resolve_migration_url(config, context.get_x_argument(as_dictionary=True).get("url"))
    if context.is_offline_mode():
        run_migrations_offline(url)
        return
    # Load every revision file now: file reads inside the loop would block it.
    context.script.revision_map.get_revisions("heads")
    asyncio.run(run_migrations_online(url))


main()
