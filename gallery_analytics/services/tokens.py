"""API tokens: created and revoked by an operator, checked on every API request.

A token reads ``gat_<key id>_<secret>``. Only the key id (public: it finds the row) and
the SHA-256 digest of the secret are stored, so a copy of the database gives no usable
token. The secret is 32 random bytes from :mod:`secrets`, so a fast hash is the right
one: stretching (bcrypt, scrypt) protects guessable passwords, and 256 random bits
cannot be guessed; a slow hash would only slow every request down.

Checking compares digests with :func:`hmac.compare_digest` and, when no row has the key
id, still compares against a fixed digest, so timing tells an attacker neither whether
a key id exists nor how much of a secret is right. A revoked token stops working at the
next request (there is no cache to outlive it).

Tokens are written as the schema owner (``Database.admin_transaction``): the writer role
the API's write routes use cannot write this table (migration 0004).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gallery_analytics.db.database import Database
from gallery_analytics.db.models import ApiToken as ApiTokenRow
from gallery_analytics.domain.values import reject_awaitable
from gallery_analytics.errors import NotFoundError, ValidationError

PREFIX = "gat"
_KEY_ID_BYTES = 9  # 12 url-safe characters
_SECRET_BYTES = 32  # 43 url-safe characters
_TOKEN = re.compile(r"gat_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Compared against when no row has the key id: the same work as a real check.
_NO_SUCH_DIGEST = hashlib.sha256(b"no such api token").digest()


class Scope(StrEnum):
    """What a token may do: read (GET routes), write (creates), import (POST /imports)."""

    READ = "read"
    WRITE = "write"
    IMPORT = "import"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as the API and ``api-token list`` see it: never its secret or digest."""

    name: str
    scopes: frozenset[Scope]
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _token_of(row: Any) -> ApiToken:
    """From a result row of name, scopes, created_at and revoked_at."""
    return ApiToken(
        name=row.name,
        scopes=frozenset(Scope(scope) for scope in row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def check_name(name: object) -> str:
    reject_awaitable(name, field="name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(
            "name",
            "expected 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (e.g. analysts-ci)",
            value=name,
        )
    return name


def check_scopes(scopes: Iterable[Scope | str] | str) -> frozenset[Scope]:
    reject_awaitable(scopes, field="scope")
    if isinstance(scopes, str):  # one scope, not its letters ("read" is not r, e, a, d)
        scopes = [scopes]
    chosen: set[Scope] = set()
    for scope in scopes:
        try:
            chosen.add(Scope(scope))
        except ValueError:
            raise ValidationError(
                "scope",
                f"expected read, write or import, got {str(scope)[:40]!r}",
                value=scope,
            ) from None
    if not chosen:
        raise ValidationError("scope", "give a token at least one scope: read, write or import")
    return frozenset(chosen)


class ApiTokenService:
    """Create, revoke and list tokens (as the schema owner) and verify them (in the
    caller's session: the API passes its request's read session, so a check costs no
    extra connection)."""

    def __init__(self, db: Database) -> None:
        reject_awaitable(db, field="db")
        self.db = db

    async def create(self, name: str, scopes: Iterable[Scope | str] | str) -> str:
        """Store a new token named ``name`` and return it; this is the only time its text
        exists anywhere. A name is taken while its token is active; a revoked token's
        name may be given to a new token (its row is replaced: the old key id and digest
        go, so the old token can never verify again).

        One statement decides, so two concurrent creates of a new name cannot both win:
        the loser waits for the winner's row and then finds it active (no unique-key
        error escapes as a constraint violation)."""
        name = check_name(name)
        chosen = check_scopes(scopes)
        key_id = secrets.token_urlsafe(_KEY_ID_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        async with self.db.admin_transaction() as connection:
            stored = await connection.fetchval(
                "INSERT INTO api_tokens AS t (name, key_id, secret_hash, scopes) "
                "VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (name) DO UPDATE SET key_id = EXCLUDED.key_id, "
                "secret_hash = EXCLUDED.secret_hash, scopes = EXCLUDED.scopes, "
                "created_at = now(), revoked_at = NULL "
                "WHERE t.revoked_at IS NOT NULL "
                "RETURNING t.name",
                name,
                key_id,
                _digest(secret),
                sorted(chosen),
            )
        if stored is None:
            raise ValidationError(
                "name",
                f"a token named {name!r} exists; revoke it first or choose another name",
                value=name,
            )
        return f"{PREFIX}_{key_id}_{secret}"

    async def revoke(self, name: str) -> None:
        """Revoke the active token named ``name`` (NotFoundError if there is none)."""
        name = check_name(name)
        async with self.db.admin_transaction() as connection:
            revoked = await connection.fetchval(
                "UPDATE api_tokens SET revoked_at = now() "
                "WHERE name = $1 AND revoked_at IS NULL RETURNING name",
                name,
            )
        if revoked is None:
            raise NotFoundError("active api token", name)

    async def list(self) -> list[ApiToken]:
        """Every token, active and revoked, by name (never a secret or digest)."""
        async with self.db.read_session() as session:
            rows = await session.execute(
                select(
                    ApiTokenRow.name,
                    ApiTokenRow.scopes,
                    ApiTokenRow.created_at,
                    ApiTokenRow.revoked_at,
                ).order_by(ApiTokenRow.name)
            )
            return [_token_of(row) for row in rows]

    @staticmethod
    async def verify(token: str, session: AsyncSession) -> ApiToken | None:
        """The active token ``token`` is, or None (malformed, unknown, wrong secret or
        revoked): never an error that would echo what was sent."""
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        key_id, secret = match.groups() if match else ("", "")
        row = None
        if match:
            row = (
                await session.execute(
                    select(
                        ApiTokenRow.name,
                        ApiTokenRow.scopes,
                        ApiTokenRow.created_at,
                        ApiTokenRow.revoked_at,
                        ApiTokenRow.secret_hash,
                    ).where(ApiTokenRow.key_id == key_id, ApiTokenRow.revoked_at.is_(None))
                )
            ).first()
        stored = row.secret_hash if row is not None else _NO_SUCH_DIGEST
        if not hmac.compare_digest(_digest(secret), stored) or row is None:
            return None
        return _token_of(row)
