"""The HTTP API over a primary and a streaming replica: reads served by the replica,
tokens checked on the primary (a lagging replica must not accept a token revoked a
moment ago), a create followed by its GET (read-your-writes within a worker), and
``/health/ready`` saying where reads go."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gallery_analytics.services.tokens import ApiTokenService, Scope
from tests.integration.api.conftest import api_client
from tests.integration.replicas.conftest import ReplicaPair


@pytest.fixture
async def paused_replica(replica_pair: ReplicaPair) -> ReplicaPair:
    await replica_pair.on_replica("SELECT pg_wal_replay_resume()")
    return replica_pair


async def test_a_revoked_token_is_refused_while_the_replica_still_has_it(
    paused_replica: ReplicaPair,
) -> None:
    pair = paused_replica
    async with pair.database() as admin, pair.database() as served:
        service = ApiTokenService(admin)
        token = await service.create("replica-tests-revoked", [Scope.READ])
        async with admin.read_session(primary=True) as session:
            artwork = str(await session.scalar(text("SELECT id FROM artworks LIMIT 1")))
            user = str(await session.scalar(text("SELECT id FROM users LIMIT 1")))
        async with api_client(served, token) as client:
            assert (await client.get(f"/artworks/{artwork}")).status_code == 200
            await pair.on_replica("SELECT pg_wal_replay_pause()")
            try:
                await service.revoke("replica-tests-revoked")  # another process, say
                # The replica still holds the token unrevoked...
                async with served.read_session() as session:
                    assert await session.scalar(text("SELECT pg_is_in_recovery()")) is True
                    revoked = await session.scalar(
                        text("SELECT revoked_at FROM api_tokens WHERE name = :n"),
                        {"n": "replica-tests-revoked"},
                    )
                    assert revoked is None
                # ...but both kinds of read route refuse it.
                for path in (f"/artworks/{artwork}", f"/users/{user}/dashboard"):
                    response = await client.get(path)
                    assert response.status_code == 401, (path, response.text)
            finally:
                await pair.on_replica("SELECT pg_wal_replay_resume()")


async def test_a_create_is_readable_at_once_and_health_says_where_reads_go(
    paused_replica: ReplicaPair,
) -> None:
    pair = paused_replica
    async with (
        pair.database() as admin,
        pair.database(read_your_writes_wait_seconds=0.2) as served,
    ):
        token = await ApiTokenService(admin).create("replica-tests-every", list(Scope))
        async with admin.read_session(primary=True) as session:
            user = str(await session.scalar(text("SELECT id FROM users LIMIT 1")))
        async with api_client(served, token) as client:
            ready = (await client.get("/health/ready")).json()
            assert ready["replica"]["state"] == "up"
            assert ready["replica"]["reads_go_to"] == "replica"
            assert "host" not in str(ready)
            assert "gallery_reader" not in str(ready)

            await pair.on_replica("SELECT pg_wal_replay_pause()")
            try:
                created = await client.post(
                    "/artists", json={"owner_id": user, "artist": {"name": "Fresh From API"}}
                )
                assert created.status_code == 201, created.text
                artist = created.json()["artist"]
                fetched = await client.get(f"/artists/{artist['id']}")
                assert fetched.status_code == 200, fetched.text
                assert fetched.json() == artist
                ready = (await client.get("/health/ready")).json()
                assert ready["replica"]["read_your_writes_fallbacks"] >= 1
            finally:
                await pair.on_replica("SELECT pg_wal_replay_resume()")
