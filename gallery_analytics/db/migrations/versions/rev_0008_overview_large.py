"""Large-data overview, second pass: an exhibition-works rollup and two covering indexes.

Why (EXPLAIN ANALYZE on the large demo data, 1M artworks, 400k exhibition links):

- Attendance and key figures with a medium or status filter keep the exhibitions showing
  such a work: a join of ``exhibition_artworks`` to the 1M artworks (0.25-0.6 s).
  ``rollup_exhibition_works`` holds the links per exhibition x medium x status (190k
  rows, narrow), keyed medium first, so the filter is an index range and no artwork is
  read. The artist filter still reads the base tables (an artist dimension would make
  the rollup as large as the links).
- Artists by nationality and gender with dates, mediums or status: an EXISTS over the
  artworks that read 120k heap rows per year of dates (0.3-0.4 s). Two covering indexes
  make it an index-only scan: by acquisition time (medium and status included), and by
  medium and status (then time).

The rollup is kept exact by statement-level AFTER triggers on ``exhibition_artworks``
(every write) and ``artworks`` (inserts, deletes, and updates of medium or status) in the
writing transaction, like 0006, but by recomputing the affected exhibitions' rows from
the base tables rather than adding deltas: a link deleted by ``ON DELETE CASCADE`` from
an artwork fires its trigger after the artwork is gone, when its medium and status can
no longer be read; the recompute reads what is there. Writers are serialised by the
data version row (0007, taken before a transaction's first write), so a recompute sees
every committed link and no concurrent one. ``SECURITY DEFINER`` with a fixed
``search_path``; the writer's own writes on the rollup are revoked (``OWNER_WRITES_ONLY``
in ``db/roles.py``); backfilled here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WRITER = "gallery_writer"

ROLLUP_TABLES = ("rollup_exhibition_works",)

# The rollup built from the base tables: the backfill, a recompute's source, and the
# reference the tests compare the maintained rollup with.
REBUILD = {
    "rollup_exhibition_works": """
        SELECT ea.exhibition_id, a.medium, a.status, count(*) AS works
        FROM public.exhibition_artworks ea JOIN public.artworks a ON a.id = ea.artwork_id
        GROUP BY 1, 2, 3
    """,
}

_TABLE = (
    """
    CREATE TABLE rollup_exhibition_works (
        exhibition_id uuid NOT NULL,
        medium varchar(300),
        status artwork_status NOT NULL,
        works bigint NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX uq_rollup_exhibition_works_key ON rollup_exhibition_works "
    "(medium, status, exhibition_id) NULLS NOT DISTINCT",
    "CREATE INDEX ix_rollup_exhibition_works_exhibition_id "
    "ON rollup_exhibition_works (exhibition_id)",
)

INDEXES = (
    "CREATE INDEX ix_artworks_acquired_at_artist_id ON artworks (acquired_at, artist_id) "
    "INCLUDE (medium, status)",
    "CREATE INDEX ix_artworks_medium_status_acquired_at ON artworks "
    "(medium, status, acquired_at, artist_id)",
)


def _recompute(exhibitions: str) -> str:
    """Replace the rollup rows of the exhibitions ``exhibitions`` (a SELECT of ids)."""
    return f"""
    DELETE FROM public.rollup_exhibition_works
    WHERE exhibition_id IN ({exhibitions});
    INSERT INTO public.rollup_exhibition_works (exhibition_id, medium, status, works)
    SELECT ea.exhibition_id, a.medium, a.status, count(*)
    FROM public.exhibition_artworks ea JOIN public.artworks a ON a.id = ea.artwork_id
    WHERE ea.exhibition_id IN ({exhibitions})
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
    """


_LINKED = "SELECT ea.exhibition_id FROM public.exhibition_artworks ea WHERE ea.artwork_id IN "

_FUNCTIONS = (
    # exhibition_artworks: every exhibition a statement added, moved or removed a link of.
    """
    CREATE FUNCTION rollup_exhibition_links_maintain() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    BEGIN
    IF TG_OP = 'INSERT' THEN
    """
    + _recompute("SELECT exhibition_id FROM new_rows")
    + """
    ELSIF TG_OP = 'UPDATE' THEN
    """
    + _recompute("SELECT exhibition_id FROM new_rows UNION SELECT exhibition_id FROM old_rows")
    + """
    ELSIF TG_OP = 'DELETE' THEN
    """
    + _recompute("SELECT exhibition_id FROM old_rows")
    + """
    ELSIF TG_OP = 'TRUNCATE' THEN
        TRUNCATE public.rollup_exhibition_works;
    END IF;
    RETURN NULL;
    END
    $fn$
    """,
    # artworks: the exhibitions showing a work whose medium or status changed (a new work
    # has links only where a reload added them first; a deleted one's links cascade and
    # fire the trigger above).
    """
    CREATE FUNCTION rollup_exhibition_works_maintain() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    BEGIN
    IF TG_OP = 'INSERT' THEN
    """
    + _recompute(_LINKED + "(SELECT id FROM new_rows)")
    + """
    ELSIF TG_OP = 'UPDATE' THEN
    """
    + _recompute(
        _LINKED + "(SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id "
        "WHERE (o.medium, o.status) IS DISTINCT FROM (n.medium, n.status)) "
        "OR ea.artwork_id IN (SELECT id FROM old_rows EXCEPT SELECT id FROM new_rows)"
    )
    + """
    ELSIF TG_OP = 'DELETE' THEN
    """
    + _recompute(_LINKED + "(SELECT id FROM old_rows)")
    + """
    END IF;
    RETURN NULL;
    END
    $fn$
    """,
)

_TRIGGERS = (
    ("exhibition_artworks", "rollup_exhibition_links_maintain", ("insert", "update", "delete")),
    ("artworks", "rollup_exhibition_works_maintain", ("insert", "update", "delete")),
)


def _trigger_statements() -> list[str]:
    statements = []
    for table, function, events in _TRIGGERS:
        for event in events:
            transitions = {
                "insert": "REFERENCING NEW TABLE AS new_rows",
                "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
                "delete": "REFERENCING OLD TABLE AS old_rows",
            }[event]
            statements.append(
                f"CREATE TRIGGER rollup_works_on_{event} AFTER {event.upper()} ON {table} "
                f"{transitions} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
    statements.append(
        "CREATE TRIGGER rollup_works_on_truncate AFTER TRUNCATE ON exhibition_artworks "
        "FOR EACH STATEMENT EXECUTE FUNCTION rollup_exhibition_links_maintain()"
    )
    return statements


def upgrade() -> None:
    for statement in _TABLE + INDEXES:
        op.execute(statement)
    for table in ROLLUP_TABLES:
        op.execute(f"INSERT INTO {table} {REBUILD[table]}")
        op.execute(f"ANALYZE {table}")
    for function in _FUNCTIONS:
        op.execute(function)
    for _, function, _events in _TRIGGERS:
        op.execute(f"REVOKE ALL ON FUNCTION {function}() FROM PUBLIC")
    for statement in _trigger_statements():
        op.execute(statement)
    tables = ", ".join(ROLLUP_TABLES)
    op.execute(
        "DO $$ BEGIN "
        f"IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{_WRITER}') THEN "
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {tables} FROM {_WRITER}; "
        "END IF; END $$"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER rollup_works_on_truncate ON exhibition_artworks")
    for table, function, events in _TRIGGERS:
        for event in events:
            op.execute(f"DROP TRIGGER rollup_works_on_{event} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
    op.execute("DROP INDEX ix_artworks_medium_status_acquired_at")
    op.execute("DROP INDEX ix_artworks_acquired_at_artist_id")
    op.execute("DROP TABLE rollup_exhibition_works")
