"""The data version is bumped once per writing transaction, before its first write.

Why: 0005 bumped it AFTER every statement, so a transaction held the version row's lock
from its first write on while it went on taking row locks, and a second writer could
hold a row the first needed while queueing for the version row: a deadlock between two
ordinary multi-statement writers (found by the rollup tests' concurrent writers). Taking
the version row first, in a BEFORE trigger of the transaction's first write, gives every
writer the same lock order (version row, then rows), so they queue instead of
deadlocking; later statements of the same transaction see the version row already
updated by it (its ``xmin`` is the transaction's own id) and skip it: one bump per
transaction, not per statement.

Why ``xmin`` and not a ``set_config`` flag: any role can set a custom setting, so a
writer could switch the bump off for its transaction and leave every cache stale; the
row's ``xmin`` is PostgreSQL's own record of who last wrote it. (Inside a savepoint the
id differs, so the version may be bumped twice; a rolled-back savepoint takes its bump
with it and the next statement bumps again: never too few.)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables of 0005 (frozen).
_DATA_TABLES = (
    "users",
    "artists",
    "artworks",
    "exhibitions",
    "exhibition_artworks",
    "sales",
    "exhibition_visits",
    "exchange_rates",
    "gallery_dataset",
)

_BUMP_ONCE = (
    "CREATE OR REPLACE FUNCTION bump_data_version() RETURNS trigger "
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$ "
    "BEGIN "
    # xmin is a 32-bit transaction id; txid_current() the same id with its epoch.
    "IF NOT EXISTS (SELECT FROM public.data_version WHERE id "
    "AND xmin::text = (txid_current() % 4294967296)::text) THEN "
    "UPDATE public.data_version SET version = version + 1, changed_at = now() WHERE id; "
    "END IF; "
    "RETURN NULL; "
    "END $$"
)
_BUMP_EVERY = (
    "CREATE OR REPLACE FUNCTION bump_data_version() RETURNS trigger "
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$ "
    "BEGIN "
    "UPDATE public.data_version SET version = version + 1, changed_at = now() WHERE id; "
    "RETURN NULL; "
    "END $$"
)


def _triggers(when: str) -> None:
    for table in _DATA_TABLES:
        op.execute(f"DROP TRIGGER bump_data_version ON {table}")
        op.execute(
            f"CREATE TRIGGER bump_data_version {when} INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()"
        )


def upgrade() -> None:
    op.execute(_BUMP_ONCE)
    _triggers("BEFORE")


def downgrade() -> None:
    op.execute(_BUMP_EVERY)
    _triggers("AFTER")
