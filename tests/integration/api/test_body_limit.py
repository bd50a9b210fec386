"""Request bodies are bounded before anything reads them: FastAPI parses a JSON body
before the route's token check, so without the bound anyone could make a worker
buffer and parse any amount. Declared or chunked, too large is a 413 naming the
limit, whatever the token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from gallery_analytics.api.body_limit import MAX_JSON_BODY_BYTES
from gallery_analytics.db.database import Database
from tests.integration.api.conftest import Tokens, api_client, assert_problem, fetch_one


def _huge_artist(owner: str) -> bytes:
    return json.dumps(
        {"owner_id": owner, "artist": {"name": "x" * (MAX_JSON_BODY_BYTES + 10)}}
    ).encode()


@pytest.mark.parametrize("token", [None, "write"])
@pytest.mark.parametrize("path", ["/artists", "/artworks"])
async def test_a_body_over_the_limit_is_refused_before_auth_and_parsing(
    api_db: Database, api_tokens: Tokens, token: str | None, path: str
) -> None:
    owner = await fetch_one(api_db, "SELECT id::text FROM users LIMIT 1")
    body = _huge_artist(owner)
    async with api_client(api_db, api_tokens.write if token else None) as client:
        declared = await client.post(
            path, content=body, headers={"Content-Type": "application/json"}
        )
        problem = assert_problem(declared, 413)
        assert problem["limit_bytes"] == MAX_JSON_BODY_BYTES

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                yield body[start : start + 64 * 1024]

        chunked = await client.post(
            path, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in chunked.request.headers
        assert_problem(chunked, 413)


async def test_a_body_under_the_limit_still_works(fresh_db: Database, fresh_tokens: Tokens) -> None:
    owner = await fetch_one(fresh_db, "SELECT id::text FROM users LIMIT 1")
    async with api_client(fresh_db, fresh_tokens.write) as client:
        created = await client.post(
            "/artists", json={"owner_id": owner, "artist": {"name": "y" * 250}}
        )
        assert created.status_code == 201, created.text
