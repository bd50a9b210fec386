"""Fixtures for the in-process API tests: the app over a real database, tokens per scope,
and the checks every error body must pass.

The app runs in this process (httpx over ``ASGITransport``, the lifespan run by
``asgi_lifespan``), on the test's own ``Database``. ``raise_app_exceptions=False``: an
exception escaping the app becomes the 500 a client would see, never a test traceback,
so the tests see what a client sees.

Read-only tests use ``api_db``: a session-wide copy of the seeded template of their
own, since creating tokens writes (the shared ``seeded_db`` stays untouched). Tests
that write use ``fresh_db`` and ``fresh_tokens``.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import URL

from gallery_analytics.api import create_app
from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.services.tokens import ApiTokenService, Scope
from tests.conftest import _clone

BASE_URL = "http://api.test"
PROBLEM_JSON = "application/problem+json"
# What no error body may ever contain: driver, traceback and SQL text.
LEAKS = (
    "asyncpg",
    "psycopg",
    "sqlalchemy",
    "Traceback",
    'File "',
    "postgresql://",
    "postgresql+asyncpg",
    "SELECT ",
    "INSERT ",
)


@dataclass(frozen=True)
class Tokens:
    """One token per scope, one with all three, and one revoked (it had all three)."""

    read: str
    write: str
    imports: str
    every: str
    revoked: str

    def of(self, scope: Scope) -> str:
        return {Scope.READ: self.read, Scope.WRITE: self.write, Scope.IMPORT: self.imports}[scope]


async def make_tokens(db: Database) -> Tokens:
    service = ApiTokenService(db)
    tokens = Tokens(
        read=await service.create("api-tests-read", [Scope.READ]),
        write=await service.create("api-tests-write", [Scope.WRITE]),
        imports=await service.create("api-tests-import", [Scope.IMPORT]),
        every=await service.create("api-tests-every", list(Scope)),
        revoked=await service.create("api-tests-revoked", list(Scope)),
    )
    await service.revoke("api-tests-revoked")
    return tokens


@pytest.fixture(scope="session")
async def api_db(server_url: URL, template_database: str) -> AsyncIterator[Database]:
    """The seeded demo data for read-only API tests (with this module's tokens)."""
    async for db in _clone(server_url, template_database, "gallery_api"):
        yield db


@pytest.fixture(scope="session")
async def api_tokens(api_db: Database) -> Tokens:
    return await make_tokens(api_db)


@pytest.fixture
async def fresh_tokens(fresh_db: Database) -> Tokens:
    return await make_tokens(fresh_db)


async def build_app(db: Database, settings: Settings | None = None) -> FastAPI:
    """``create_app`` in a worker thread: fastapi-offline's StaticFiles checks its
    directory when built (a stat, which blockbuster refuses on the event loop)."""
    return await asyncio.to_thread(functools.partial(create_app, settings, database=db))


@asynccontextmanager
async def api_client(
    db: Database,
    token: str | None = None,
    *,
    settings: Settings | None = None,
    app: FastAPI | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` (default: ``create_app`` on ``db``), its lifespan running,
    sending ``token`` as a bearer token when given."""
    if app is None:
        app = await build_app(db, settings)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=headers, timeout=120
        ) as client:
            yield client


@pytest.fixture
async def reader(api_db: Database, api_tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the read token on ``api_db``."""
    async with api_client(api_db, api_tokens.read) as client:
        yield client


@pytest.fixture
async def writer(fresh_db: Database, fresh_tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a token of every scope on ``fresh_db``."""
    async with api_client(fresh_db, fresh_tokens.every) as client:
        yield client


async def fetch(db: Database, sql: str, *args: object) -> list[dict[str, Any]]:
    """Rows of ``sql`` read as the schema owner with the bare driver: the truth the API is
    compared with, by a path that shares nothing with it."""
    async with db.admin_connection() as connection:
        return [dict(row) for row in await connection.fetch(sql, *args)]


async def fetch_one(db: Database, sql: str, *args: object) -> Any:
    async with db.admin_connection() as connection:
        return await connection.fetchval(sql, *args)


def assert_problem(
    response: httpx.Response,
    status: int,
    *,
    field: str | None = None,
    secrets: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` (naming ``field`` when given)
    that leaks nothing: no driver or traceback text, none of ``secrets``. Its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body = response.json()
    assert isinstance(body, dict), body
    for member, kind in (("type", str), ("title", str), ("status", int), ("detail", str)):
        assert isinstance(body.get(member), kind), (member, body)
    assert body["status"] == status
    assert body["type"].startswith(("https://", "about:blank")), body["type"]
    assert body["title"], body
    assert body["detail"], body
    text = response.text
    for leak in (*LEAKS, *secrets):
        assert leak not in text, f"{leak!r} in {text}"
    if field is not None:
        assert body.get("field") == field, body
    if status == 503:
        assert int(response.headers["retry-after"]) > 0
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    return body


def json_equal(response: httpx.Response, expected: Mapping[str, Any] | list[Any]) -> None:
    """The response's JSON equals ``expected`` (a DTO dumped in JSON mode)."""
    assert response.status_code == 200, response.text
    assert response.json() == json.loads(json.dumps(expected))
