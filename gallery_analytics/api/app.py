"""The FastAPI application: :func:`create_app` builds it, its lifespan owns the Database.

Nothing is created at import time: the engine and its pool appear in the lifespan, on
the server's event loop, one ``Database`` per worker process. Docs (``/docs``,
``/redoc``) are served from the package by fastapi-offline, never a CDN, so they work
on a machine with no internet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from gallery_analytics.api.body_limit import LimitRequestBody
from gallery_analytics.api.disconnect import CancelOnDisconnect
from gallery_analytics.api.problems import PROBLEM_RESPONSES, install_problem_handlers
from gallery_analytics.api.routes import catalog, health, imports, overview
from gallery_analytics.config import Settings
from gallery_analytics.db.connect import connect
from gallery_analytics.db.database import Database

TITLE = "gallery-analytics"
DESCRIPTION = (
    "The art-gallery workbench's services over HTTP: artworks, artists, users and "
    "exhibitions, a user's dashboard, the gallery overview's panels (JSON, CSV, Parquet, "
    "Arrow) and collection imports. Errors are RFC 9457 problem details. Reads need a "
    "token with the read scope unless the server allows public reads; writes and "
    "imports always need a token with their scope (`gallery-analytics api-token create`)."
)


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """The API app. ``settings`` default to the environment (read when the app starts);
    ``database`` (tests) is used as given and left open, else one is connected at startup
    (the embedded server when nothing is configured) and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chosen = settings
        if chosen is None:
            chosen = database.settings if database is not None else None
        if chosen is None:
            chosen = await asyncio.to_thread(Settings.from_env)
        db = database if database is not None else await connect(settings=chosen)
        app.state.settings = chosen
        app.state.db = db
        try:
            yield
        finally:
            if database is None:
                await db.dispose()

    app = FastAPIOffline(title=TITLE, description=DESCRIPTION, version="1", lifespan=lifespan)
    install_problem_handlers(app)
    for module in (catalog, overview, imports):
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    app.include_router(health.router)
    # Outermost last: the body bound sees the request before the disconnect pump reads it.
    app.add_middleware(CancelOnDisconnect)
    app.add_middleware(LimitRequestBody)
    return app
