"""Request-scoped dependencies: the database, a session per request, and who is asking.

``get_read_session`` yields a read-only session (the reader role, a read-only
transaction): whatever SQL a route sends through it cannot write. ``get_write_session``
yields a session on the primary that is committed when the route returns and rolled
back on any error or cancellation, a client that disconnects included
(:mod:`~gallery_analytics.api.disconnect` cancels the request). Write routes take it
with ``scope="function"``, so the commit happens before the response is sent: a client
is never told "created" about a row whose commit then failed.

One session per request, never shared by gathered tasks: routes that run queries in
parallel take the ``Database`` and let the service give each task its own session. The
read session also ends when the route returns (``scope="function"``), so its connection
goes back to the pool before a slow client has read the response.

Tokens are always checked on the primary: a replica that lags would still accept a token
revoked a moment ago.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.errors import AuthenticationError, PermissionDeniedError
from gallery_analytics.services.tokens import ApiToken, ApiTokenService, Scope


async def get_database(request: Request) -> Database:
    """The app's Database, created by the lifespan (one per worker process).

    ``async def`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in
    a worker thread, a thread hop on every request for an attribute read."""
    db: Database = request.app.state.db
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_read_session(
    db: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    async with db.read_session() as session:
        yield session


async def get_write_session(
    db: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    async with db.write_session() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
# Committed before the response goes out (see the module docstring).
WriteSession = Annotated[AsyncSession, Depends(get_write_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="an API token: gallery-analytics api-token")


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _verified(
    session: AsyncSession, credentials: HTTPAuthorizationCredentials | None
) -> ApiToken | None:
    """The token the request carries (None without one); AuthenticationError for a token
    that is unknown, revoked or malformed."""
    if credentials is None:
        return None
    token = await ApiTokenService.verify(credentials.credentials, session)
    if token is None:
        raise AuthenticationError("the bearer token is not valid (unknown, revoked or malformed)")
    return token


def _admit(request: Request, scope: Scope, settings: Settings, token: ApiToken | None) -> None:
    if token is None:
        if scope is Scope.READ and settings.api_public_reads:
            return
        raise AuthenticationError(f"this request needs a bearer token with the {scope} scope")
    if scope not in token.scopes:
        raise PermissionDeniedError(
            f"this request needs a token with the {scope} scope; "
            f"this token has {', '.join(sorted(token.scopes)) or 'none'}",
        )
    request.state.token_name = token.name


def require(scope: Scope) -> Any:
    """A dependency that lets the request through only with a token holding ``scope``
    (reads without one when GALLERY_API_PUBLIC_READS is on): 401 without a valid token,
    403 with a token that lacks the scope. The token is looked up in a short read session
    of its own, given back before the route runs (the route may need every pooled
    connection for its parallel queries)."""

    async def check(
        request: Request, db: DatabaseDep, settings: SettingsDep, credentials: Credentials
    ) -> None:
        token = None
        if credentials is not None:
            async with db.read_session(primary=True) as session:
                token = await _verified(session, credentials)
        _admit(request, scope, settings, token)

    return Depends(check)


async def _reader_in_request_session(
    request: Request,
    session: ReadSession,
    db: DatabaseDep,
    settings: SettingsDep,
    credentials: Credentials,
) -> None:
    if credentials is not None and session.info.get("replica"):
        async with db.read_session(primary=True) as primary:
            token = await _verified(primary, credentials)
    else:
        token = await _verified(session, credentials)
    _admit(request, Scope.READ, settings, token)


# The read check for routes that take the request's read session anyway: the token is
# looked up in that same session when it is on the primary (FastAPI gives a request one
# instance of a dependency), so a read costs one connection checkout, not two.
CanReadInRequestSession = Depends(_reader_in_request_session)
CanRead = require(Scope.READ)
CanWrite = require(Scope.WRITE)
CanImport = require(Scope.IMPORT)
