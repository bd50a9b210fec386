"""API tokens: who may call the HTTP API, with which scopes (read, write, import).

Only a SHA-256 digest of each token's secret is stored. The application's writer role
may read this table but never change it: an API token with the write scope can then
never mint or un-revoke tokens, whatever SQL reached the database. Tokens are created
and revoked by the schema owner (``gallery-analytics api-token``). The reader may SELECT
(the API checks tokens in a read-only session); both come from the owner's default
privileges (``db/roles.py``), minus the writer's writes, revoked here and again whenever
the roles are provisioned.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The writer role of db/roles.py (a DBA-run server uses the same names, README).
_WRITER = "gallery_writer"


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "char_length(name) BETWEEN 1 AND 100", name=op.f("ck_api_tokens_name_length")
        ),
        sa.CheckConstraint(
            "cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'import']::text[]",
            name=op.f("ck_api_tokens_known_scopes"),
        ),
        sa.CheckConstraint(
            "octet_length(secret_hash) = 32", name=op.f("ck_api_tokens_sha256_digest")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_tokens_key_id")),
    )
    op.execute(
        "DO $$ BEGIN "
        f"IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{_WRITER}') THEN "
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON api_tokens FROM {_WRITER}; "
        "END IF; END $$"
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
