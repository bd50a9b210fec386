"""API tokens: stored as digests, checked in constant time, revocable, and out of reach
of the application's roles (only the schema owner writes them)."""

from __future__ import annotations

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from gallery_analytics.db.admin import driver_dsn
from gallery_analytics.db.database import Database
from gallery_analytics.db.roles import APP_ROLES, provision_database
from gallery_analytics.errors import NotFoundError, ValidationError
from gallery_analytics.services.tokens import ApiTokenService, Scope


async def _verify(db: Database, token: str) -> object:
    async with db.read_session() as session:
        return await ApiTokenService(db).verify(token, session)


async def test_a_token_verifies_with_its_scopes_until_revoked(fresh_db: Database) -> None:
    tokens = ApiTokenService(fresh_db)
    token = await tokens.create("analysts", ["read", Scope.IMPORT])
    found = await _verify(fresh_db, token)
    assert found is not None
    assert found.name == "analysts"  # type: ignore[attr-defined]
    assert found.scopes == {Scope.READ, Scope.IMPORT}  # type: ignore[attr-defined]
    await tokens.revoke("analysts")
    assert await _verify(fresh_db, token) is None
    with pytest.raises(NotFoundError):
        await tokens.revoke("analysts")
    # A revoked token's name may go to a new token; the old one stays refused.
    again = await tokens.create("analysts", ["read"])
    assert await _verify(fresh_db, again) is not None
    assert await _verify(fresh_db, token) is None


async def test_only_a_digest_is_stored_and_listing_shows_no_secret(fresh_db: Database) -> None:
    token = await ApiTokenService(fresh_db).create("ci", ["write"])
    secret = token.rsplit("_", 1)[1]
    async with fresh_db.admin_connection() as connection:
        rows = await connection.fetch("SELECT * FROM api_tokens")
    stored = repr([dict(row) for row in rows])
    assert secret not in stored
    assert token not in stored
    listed = await ApiTokenService(fresh_db).list()
    assert [t.name for t in listed] == ["ci"]
    assert secret not in repr(listed)


async def test_a_wrong_secret_or_key_is_refused(fresh_db: Database) -> None:
    token = await ApiTokenService(fresh_db).create("ci", ["read"])
    # By position, not by "_": a key id or a secret may hold "_" (base64url), and one
    # starting with it made the forged "wrong key" the token itself (1 run in 64).
    prefix, key_id, secret = token[:3], token[4:16], token[17:]
    assert f"{prefix}_{key_id}_{secret}" == token
    wrong_secret = f"{prefix}_{key_id}_{'A' * len(secret)}"
    wrong_key = f"{prefix}_{'B' * len(key_id)}_{secret}"
    for forged in (wrong_secret, wrong_key, token + "x", token[:-1], token.upper()):
        assert forged != token
        assert await _verify(fresh_db, forged) is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.from_regex(r"gat_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}", fullmatch=True),
        st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    )
)
async def test_anything_sent_as_a_token_is_refused_quietly(seeded_db: Database, text: str) -> None:
    assert await _verify(seeded_db, text) is None


@pytest.mark.parametrize(
    ("name", "scopes", "field"),
    [
        ("", ["read"], "name"),
        ("has space", ["read"], "name"),
        ("x" * 101, ["read"], "name"),
        ("-leading", ["read"], "name"),
        ("ok", [], "scope"),
        ("ok", ["admin"], "scope"),
        ("ok", ["READ "], "scope"),
    ],
)
async def test_bad_names_and_scopes_are_refused_naming_the_field(
    seeded_db: Database, name: str, scopes: list[str], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await ApiTokenService(seeded_db).create(name, scopes)
    assert caught.value.field == field


async def test_an_active_name_is_not_taken_twice(fresh_db: Database) -> None:
    await ApiTokenService(fresh_db).create("ci", ["read"])
    with pytest.raises(ValidationError, match="exists"):
        await ApiTokenService(fresh_db).create("ci", ["write"])


@pytest.mark.parametrize("role", [APP_ROLES.writer, APP_ROLES.reader])
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO api_tokens (name, key_id, secret_hash, scopes) "
        "VALUES ('mine', 'k', sha256('x'), ARRAY['write'])",
        "UPDATE api_tokens SET revoked_at = NULL, scopes = ARRAY['read', 'write', 'import']",
        "DELETE FROM api_tokens",
        "TRUNCATE api_tokens",
    ],
)
async def test_the_application_roles_cannot_write_tokens(
    fresh_db: Database, role: str, statement: str
) -> None:
    """A write token reaches the database as the writer: it must never mint tokens."""
    await ApiTokenService(fresh_db).create("existing", ["read"])
    url = fresh_db.url.set(username=role)
    connection = await asyncpg.connect(driver_dsn(url))
    try:
        # Past the reader's read-only default (a flag any session may turn off): the
        # grants are what must refuse.
        await connection.execute("SET default_transaction_read_only = off")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(statement)
        assert await connection.fetchval("SELECT count(*) FROM api_tokens") == 1  # may read
    finally:
        await connection.close()


async def test_provisioning_the_roles_again_does_not_give_the_writer_tokens(
    fresh_db: Database, server_url: URL
) -> None:
    """Provisioning grants the writer every table; tokens must be taken back each time."""
    await provision_database(server_url, str(fresh_db.url.database))
    connection = await asyncpg.connect(driver_dsn(fresh_db.url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(
                "INSERT INTO api_tokens (name, key_id, secret_hash, scopes) "
                "VALUES ('mine', 'k', sha256('x'), ARRAY['write'])"
            )
    finally:
        await connection.close()
