"""The data version: one number every write to the gallery's data increases.

Why in the database and bumped by triggers: a panel cache shared by kernels, API workers
and Voila kernels (and replicas, which replay it with the data) must know when its
entries are stale, whoever wrote. A statement-level trigger on every data table bumps the
version in the writing transaction itself, so imports, seeds, creates, migrations and a
hand-written ``psql`` UPDATE all bump it, atomically with the rows they change: a reader
that sees version N sees every row written up to N. (A sequence would not do:
``nextval`` is not transactional, so the new version would be visible before the data.)

The cost: concurrent writing transactions queue on the one row until they commit, which a
gallery's write rate (imports, creates) never notices.

The function is ``SECURITY DEFINER`` (the schema owner's): the application writer role
bumps the version only by writing data, and may not set it itself (its writes on the
table are revoked here and on every provisioning, ``OWNER_WRITES_ONLY`` in
``db/roles.py``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The writer role of db/roles.py (a DBA-run server uses the same names, README).
_WRITER = "gallery_writer"

# Every table whose rows a panel, list or report shows (frozen: later tables that panels
# read get their trigger in their own migration).
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


def upgrade() -> None:
    op.execute(
        "CREATE TABLE data_version ("
        " id boolean DEFAULT true CONSTRAINT pk_data_version PRIMARY KEY"
        " CONSTRAINT ck_data_version_single_row CHECK (id),"
        " version bigint NOT NULL CONSTRAINT ck_data_version_positive CHECK (version > 0),"
        " changed_at timestamptz NOT NULL DEFAULT now())"
    )
    op.execute("INSERT INTO data_version (id, version) VALUES (true, 1)")
    op.execute(
        "CREATE FUNCTION bump_data_version() RETURNS trigger "
        "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$ "
        "BEGIN "
        "UPDATE public.data_version SET version = version + 1, changed_at = now() WHERE id; "
        "RETURN NULL; "
        "END $$"
    )
    op.execute("REVOKE ALL ON FUNCTION bump_data_version() FROM PUBLIC")
    for table in _DATA_TABLES:
        op.execute(
            f"CREATE TRIGGER bump_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()"
        )
    op.execute(
        "DO $$ BEGIN "
        f"IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{_WRITER}') THEN "
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON data_version FROM {_WRITER}; "
        "END IF; END $$"
    )


def downgrade() -> None:
    for table in _DATA_TABLES:
        op.execute(f"DROP TRIGGER bump_data_version ON {table}")
    op.execute("DROP FUNCTION bump_data_version()")
    op.execute("DROP TABLE data_version")
