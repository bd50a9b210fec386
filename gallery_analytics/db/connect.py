"""``connect()``: the one call a notebook needs to get a ready :class:`Database`."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import URL, make_url

from gallery_analytics.config import Settings, normalise_url
from gallery_analytics.db.admin import ensure_database
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres, EmbeddedReplica
from gallery_analytics.db.roles import (
    RoleUrls,
    provision_database,
    role_urls,
    roles_provisioned,
)
from gallery_analytics.db.schema import check_schema, upgrade_schema
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import SchemaOutdatedError

EMBEDDED_DATABASE = "gallery"


async def embedded_server_url(settings: Settings | None = None) -> URL:
    """Start the embedded server if needed; its superuser URL, for administrative tools
    only (creating databases and roles, benchmarks), never for application sessions."""
    if settings is None:  # reading .env is file I/O: off the event loop
        settings = await asyncio.to_thread(Settings.from_env)
    server = EmbeddedPostgres(settings=settings)
    # Starting runs initdb/pg_ctl subprocesses: keep them off the event loop.
    return make_url(await asyncio.to_thread(server.start))


async def embedded_urls(settings: Settings | None = None) -> RoleUrls:
    """Start the embedded server if needed; the owner, writer and reader URLs of its
    gallery database (roles created and granted on first use; none is a superuser)."""
    server_url = await embedded_server_url(settings)
    created = await ensure_database(server_url, EMBEDDED_DATABASE)
    if created or not await roles_provisioned(server_url, EMBEDDED_DATABASE):
        await provision_database(server_url, EMBEDDED_DATABASE)
    return role_urls(server_url, EMBEDDED_DATABASE)


async def embedded_replica_url(settings: Settings | None = None) -> URL | None:
    """The reader role's URL on the embedded server's replica when it is running
    (``gallery-analytics db start --replica``), else None. Never starts one."""
    if settings is None:
        settings = await asyncio.to_thread(Settings.from_env)
    replica = EmbeddedReplica(settings=settings)
    status = await asyncio.to_thread(replica.status)
    if not status.running or status.socket_dir is None:
        return None
    server_url = make_url(await asyncio.to_thread(replica.url))
    return role_urls(server_url, EMBEDDED_DATABASE).reader


def application_database(
    server_url: URL, database: str, *, settings: Settings | None = None
) -> Database:
    """A Database on a provisioned ``database`` (see :func:`provision_database`) that
    writes as the writer role, reads as the reader role and reloads as the owner."""
    urls = role_urls(server_url, database)
    return Database(urls.writer, read_url=urls.reader, admin_url=urls.owner, settings=settings)


async def connect(
    url: str | URL | None = None,
    *,
    read_url: str | URL | None = None,
    replica_url: str | URL | None = None,
    settings: Settings | None = None,
) -> Database:
    """A Database for ``url``, else ``GALLERY_DATABASE_URL``, else the embedded server.

    Reads go to ``replica_url``, else ``GALLERY_REPLICA_DATABASE_URL``, else (embedded)
    the embedded replica when it runs; with none, to the primary's read role.

    Connecting changes no schema: it reads the schema revision and raises
    :class:`SchemaOutdatedError` (naming ``gallery-analytics db upgrade``) when the
    database is behind or ahead of this code; DDL would lock live tables. The one
    exception is the embedded server (nothing configured): it is started on demand and,
    when behind, migrated once as its owner role, so ``db = await connect()`` is all a
    fresh notebook needs.
    """
    for field, given in (
        ("url", url),
        ("read_url", read_url),
        ("replica_url", replica_url),
        ("settings", settings),
    ):
        reject_awaitable(given, field=field)  # `connect(other_service_call())`
    if settings is None:  # reading .env is file I/O: off the event loop
        settings = await asyncio.to_thread(Settings.from_env)
    if url is not None:
        primary = admin = normalise_url(url)
        replica = normalise_url(read_url) if read_url is not None else None
    elif settings.database_url is not None:
        primary = settings.database_url
        admin = settings.schema_owner_url or primary
        replica = normalise_url(read_url) if read_url is not None else settings.read_database_url
    else:
        urls = await embedded_urls(settings)
        primary, admin = urls.writer, urls.owner
        replica = normalise_url(read_url) if read_url is not None else urls.reader
    embedded = url is None and settings.database_url is None
    streaming: URL | None
    if replica_url is not None:
        streaming = normalise_url(replica_url)
    elif url is not None:
        streaming = None
    elif not embedded:
        streaming = settings.replica_database_url
    else:
        streaming = await embedded_replica_url(settings)
    db = Database(
        primary, read_url=replica, admin_url=admin, replica_url=streaming, settings=settings
    )
    try:
        await _check_or_upgrade_schema(db, embedded=embedded)
    except BaseException:
        await db.dispose()
        raise
    return db


async def _check_or_upgrade_schema(db: Database, *, embedded: bool) -> None:
    """Only the embedded demo server upgrades itself; a configured one is only checked."""
    try:
        await check_schema(db)
    except SchemaOutdatedError as outdated:
        if not embedded or outdated.ahead:
            raise
        await upgrade_schema(db.admin_url)
        await check_schema(db)
