"""Who may call what: every route of the app, with no token, each scope's token, a
revoked token and malformed headers.

The routes are read from the app itself (flattened, and checked against the OpenAPI
document), and each route's scope follows from its method and path: a route added
later is tested by the same rules, so it cannot go out unprotected by accident.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Mount

from gallery_analytics.api import create_app
from gallery_analytics.config import Settings
from gallery_analytics.db.database import Database
from gallery_analytics.services.tokens import Scope
from tests.integration.api.conftest import Tokens, api_client, assert_problem

# Routes anybody may call: health for load balancers, the docs and their assets.
PUBLIC_PATHS = frozenset(
    {"/health/live", "/health/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with {parameters}

    @property
    def scope(self) -> Scope | None:
        """The scope a token needs here (None: public)."""
        if self.path in PUBLIC_PATHS:
            return None
        if self.path == "/imports" or self.path.startswith("/imports/"):
            return Scope.IMPORT
        return Scope.WRITE if self.method in WRITE_METHODS else Scope.READ

    def url(self) -> str:
        def value(match: re.Match[str]) -> str:
            return "key_figures" if match.group(1) == "panel" else str(uuid.uuid4())

        return re.sub(r"\{(\w+)(?::\w+)?\}", value, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _flattened(routes: list[BaseRoute]) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, included routers opened (FastAPI keeps them
    nested; their paths are the included routes' full paths)."""
    found: list[tuple[str, set[str]]] = []
    for route in routes:
        nested = getattr(route, "effective_route_contexts", None)
        if nested is not None:
            for context in nested():
                found.append((context.path, set(getattr(context.original_route, "methods", ()))))
        elif not isinstance(route, Mount):
            found.append((getattr(route, "path", ""), set(getattr(route, "methods", ()) or ())))
    return found


def app_endpoints(app: FastAPI) -> list[Endpoint]:
    endpoints = sorted(
        {
            Endpoint(method, path)
            for path, methods in _flattened(app.routes)
            for method in methods - {"HEAD", "OPTIONS"}
        },
        key=str,
    )
    # Nothing hidden from the flattening: every documented operation is in the list.
    documented = {
        Endpoint(method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    missing = documented - set(endpoints)
    assert not missing, f"routes the flattening missed: {missing}"
    return endpoints


ENDPOINTS = app_endpoints(create_app())
PROTECTED = [endpoint for endpoint in ENDPOINTS if endpoint.scope is not None]
PUBLIC = [endpoint for endpoint in ENDPOINTS if endpoint.scope is None]


def test_the_route_list_is_complete() -> None:
    """The rules classify the routes the issue names as it says."""
    by_scope = {str(endpoint): endpoint.scope for endpoint in ENDPOINTS}
    assert by_scope["GET /artworks/{artwork_id}"] is Scope.READ
    assert by_scope["GET /users/{user_id}/dashboard"] is Scope.READ
    assert by_scope["GET /overview/{panel}"] is Scope.READ
    assert by_scope["POST /artists"] is Scope.WRITE
    assert by_scope["POST /artworks"] is Scope.WRITE
    assert by_scope["POST /imports"] is Scope.IMPORT
    assert by_scope["GET /imports/{import_id}/rejects"] is Scope.IMPORT
    assert by_scope["GET /health/ready"] is None
    assert len([e for e in PROTECTED if e.scope is Scope.READ]) >= 10
    assert {str(e) for e in PUBLIC} >= {"GET /health/live", "GET /health/ready", "GET /docs"}


async def _call(
    client: httpx.AsyncClient, endpoint: Endpoint, headers: dict[str, str] | None = None
) -> httpx.Response:
    """The endpoint with an empty JSON body for writes (a valid token gets a 422: nothing
    is ever written by these tests)."""
    body = (
        {"json": {}} if endpoint.method in WRITE_METHODS and endpoint.scope is Scope.WRITE else {}
    )
    return await client.request(endpoint.method, endpoint.url(), headers=headers, **body)


@pytest.mark.parametrize("endpoint", PROTECTED, ids=str)
async def test_without_a_token_a_protected_route_is_401(
    api_db: Database, endpoint: Endpoint
) -> None:
    async with api_client(api_db) as client:
        body = assert_problem(await _call(client, endpoint), 401)
        assert str(endpoint.scope) in body["detail"]


@pytest.mark.parametrize("endpoint", PROTECTED, ids=str)
async def test_with_public_reads_only_reads_go_without_a_token(
    api_db: Database, endpoint: Endpoint
) -> None:
    settings = Settings(api_public_reads=True)
    async with api_client(api_db, settings=settings) as client:
        response = await _call(client, endpoint)
        if endpoint.scope is Scope.READ:
            # Random ids: found nothing, or (the overview) every panel.
            assert response.status_code in (200, 404), response.text
        else:
            assert_problem(response, 401)


@pytest.mark.parametrize("endpoint", PUBLIC, ids=str)
async def test_a_public_route_needs_no_token(api_db: Database, endpoint: Endpoint) -> None:
    async with api_client(api_db) as client:
        response = await _call(client, endpoint)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("endpoint", PROTECTED, ids=str)
async def test_a_token_without_the_scope_is_403_and_with_it_passes(
    api_db: Database, api_tokens: Tokens, endpoint: Endpoint
) -> None:
    assert endpoint.scope is not None
    for scope in Scope:
        async with api_client(api_db, api_tokens.of(scope)) as client:
            response = await _call(client, endpoint)
            if scope is endpoint.scope:
                # Through the gate: what the route makes of random ids and empty bodies.
                assert response.status_code in (200, 404, 422), response.text
            else:
                body = assert_problem(response, 403)
                assert str(endpoint.scope) in body["detail"]
    async with api_client(api_db, api_tokens.every) as client:
        assert (await _call(client, endpoint)).status_code in (200, 404, 422)


@pytest.mark.parametrize("endpoint", PROTECTED, ids=str)
async def test_a_revoked_or_forged_token_is_401(
    api_db: Database, api_tokens: Tokens, endpoint: Endpoint
) -> None:
    prefix, key_id, secret = api_tokens.every.split("_", 2)
    forged = f"{prefix}_{key_id}_{secret[::-1]}"
    for token in (api_tokens.revoked, forged, api_tokens.every + "x", "gat_"):
        async with api_client(api_db, token) as client:
            assert_problem(await _call(client, endpoint), 401, secrets=(token,))


async def test_the_scheme_is_case_insensitive_and_the_token_is_not(
    api_db: Database, api_tokens: Tokens
) -> None:
    async with api_client(api_db) as client:
        ok = await client.get("/overview", headers={"Authorization": f"bearer {api_tokens.read}"})
        assert ok.status_code == 200, ok.text
        upper = {"Authorization": f"Bearer {api_tokens.read.upper()}"}
        assert_problem(await client.get("/overview", headers=upper), 401)


HOSTILE_HEADERS = [
    "",
    "Bearer",
    "Bearer ",
    "Bearer  ",
    "Basic dXNlcjpwYXNz",
    "Token abc",
    "Bearer gat_",
    "Bearer " + "A" * 20_000,
    "Bearer gat_" + "x" * 12 + "_" + "y" * 43,
    "Bearer gat_../../etc_passwd",
    "Bearer \x00\x01",
    "Bearer ' OR 1=1 --",
    "Bearer\tgat_abc",
]


@pytest.mark.parametrize("header", HOSTILE_HEADERS)
async def test_a_malformed_authorization_header_is_401(api_db: Database, header: str) -> None:
    async with api_client(api_db) as client:
        for endpoint in (Endpoint("GET", "/overview"), Endpoint("POST", "/artists")):
            response = await _call(client, endpoint, headers={"Authorization": header})
            assert_problem(response, 401)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    header=st.one_of(
        st.binary(max_size=200).filter(lambda b: b"\n" not in b and b"\r" not in b),
        st.text(max_size=120).map(lambda t: "Bearer " + t),
        st.from_regex(r"Bearer gat_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}", fullmatch=True),
    )
)
async def test_any_authorization_header_is_a_401_never_a_500(
    reader: httpx.AsyncClient, header: str | bytes
) -> None:
    raw = header if isinstance(header, bytes) else header.encode("utf-8")
    raw = raw.replace(b"\n", b"").replace(b"\r", b"")
    response = await reader.get("/overview", headers={"Authorization": raw})
    assert_problem(response, 401)


# -- docs, offline --------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_load_nothing_from_another_host(api_db: Database, page: str) -> None:
    # Static files' types come from mimetypes, which reads the system's tables once, on
    # first use: done here in a thread (blockbuster refuses file reads on the loop).
    await asyncio.to_thread(mimetypes.init)
    async with api_client(api_db) as client:
        html = await client.get(page)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        external = re.findall(
            r"""(?:src|href|url)\s*[=:(]\s*["']?((?:https?:)?//[^"'\s)]+)""", html.text
        )
        assert external == [], f"{page} loads from another host: {external}"
        assets = re.findall(r"""(?:src|href|url)\s*[=:(]\s*["']?(/[^"'\s)]+)""", html.text)
        assert any(asset.endswith(".js") for asset in assets), assets
        for asset in assets:
            got = await client.get(asset)
            assert got.status_code == 200, asset
            assert got.content, asset
        spec = await client.get("/openapi.json")
        assert spec.status_code == 200
        paths = spec.json()["paths"]
        assert {"/artworks/{artwork_id}", "/overview/{panel}", "/imports"} <= set(paths)
        # The security scheme is documented, so the docs can send a token.
        assert "HTTPBearer" in spec.json()["components"]["securitySchemes"]
