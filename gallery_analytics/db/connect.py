"""``connect()``: the one call a notebook needs to get a ready :class:`Database`."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import URL, make_url

from gallery_analytics.config import Settings, normalise_url
from gallery_analytics.db.admin import ensure_database
from gallery_analytics.db.database import Database
from gallery_analytics.db.embedded import EmbeddedPostgres
from gallery_analytics.db.schema import create_schema

EMBEDDED_DATABASE = "gallery"


async def embedded_url(settings: Settings | None = None) -> URL:
    """Start the embedded server if needed and return the URL of its gallery database."""
    settings = settings or Settings.from_env()
    server = EmbeddedPostgres(settings.embedded_dir)
    # Starting runs initdb/pg_ctl subprocesses: keep them off the event loop.
    server_url = make_url(await asyncio.to_thread(server.start))
    await ensure_database(server_url, EMBEDDED_DATABASE)
    return server_url.set(database=EMBEDDED_DATABASE)


async def connect(
    url: str | URL | None = None,
    *,
    read_url: str | URL | None = None,
    settings: Settings | None = None,
    create_schema_if_missing: bool | None = None,
) -> Database:
    """A Database for ``url``, else ``GALLERY_DATABASE_URL``, else the embedded server.

    With the embedded server (nothing configured) the server is started on demand and
    the schema created, so ``db = await connect()`` is all a fresh notebook needs. A
    configured server's schema is only created when asked (``create_schema_if_missing``),
    since analysts often connect with read-only credentials.
    """
    settings = settings or Settings.from_env()
    if url is not None:
        primary = normalise_url(url)
        replica = normalise_url(read_url) if read_url is not None else None
    elif settings.database_url is not None:
        primary = settings.database_url
        replica = normalise_url(read_url) if read_url is not None else settings.read_database_url
    else:
        primary = await embedded_url(settings)
        replica = normalise_url(read_url) if read_url is not None else None
        if create_schema_if_missing is None:
            create_schema_if_missing = True
    db = Database(primary, read_url=replica, settings=settings)
    if create_schema_if_missing:
        try:
            await create_schema(db)
        except BaseException:
            await db.dispose()
            raise
    return db
