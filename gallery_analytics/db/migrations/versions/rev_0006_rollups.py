"""Exact rollups: the overview panels' sums kept up to date by every write.

Why: on large data (1M artworks, 1M sales) every overview re-aggregated the base tables
(joins of sales to artworks, 1.5 s per overview). These tables hold the same sums at the
panels' grain, so a panel reads a few thousand rows instead of a million:

- ``rollup_sales_daily``: sales per UTC day x artist x owner x medium x status x
  currency (count, price sum). Nearly one row per sale, but without the join to
  artworks, and day-exact: any date range and every artwork filter is answered from it
  (top artists, and the user or artist filters).
- ``rollup_sales_monthly``: the same per UTC month x medium x status x currency (a few
  thousand rows): revenue, key figures and excluded sales without a user or artist
  filter; the partial first and last month of a date range come from the daily rollup.
- ``rollup_artworks_monthly``: artworks per acquisition month (UTC; NULL: undated) x
  medium x status (count, priced count, list price sum); partial months and the user or
  artist filters are read from ``artworks``.
- ``rollup_visits_weekly``: visitors per ISO week x exhibition (visitor sum, days
  with a visit row); partial weeks come from ``exhibition_visits``.

Artists, exhibitions and exchange rates are joined at query time, never copied in, so
their writes need no maintenance. What is copied from ``artworks`` into the sales
rollups (artist, owner, medium, status) is moved along when an artwork changes.

Maintained exactly, in the writing transaction: statement-level AFTER triggers with
transition tables add each statement's deltas (INSERT ... ON CONFLICT DO UPDATE) and
delete the groups that drop to zero; TRUNCATE empties the rollups. A COPY fires the
INSERT trigger once with all its rows, so the demo reload (TRUNCATE + COPY) builds the
rollups in one grouped pass each. Days, months and weeks are taken in UTC whatever the
writer's session zone (``AT TIME ZONE 'UTC'``), as the panels read them.

The trigger functions are ``SECURITY DEFINER`` (the schema owner's) with a fixed
``search_path``: the writer role changes rollups only by writing data; its own writes on
them are revoked here and on every provisioning (``OWNER_WRITES_ONLY`` in
``db/roles.py``). The migration builds the rollups from the data already there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The writer role of db/roles.py (a DBA-run server uses the same names, README).
_WRITER = "gallery_writer"

ROLLUP_TABLES = (
    "rollup_sales_daily",
    "rollup_sales_monthly",
    "rollup_artworks_monthly",
    "rollup_visits_weekly",
)

_TABLES = (
    """
    CREATE TABLE rollup_sales_daily (
        day date NOT NULL,
        artist_id uuid NOT NULL,
        owner_id uuid NOT NULL,
        medium varchar(300),
        status artwork_status NOT NULL,
        currency varchar(3) NOT NULL,
        sales bigint NOT NULL,
        price numeric NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX uq_rollup_sales_daily_key ON rollup_sales_daily "
    "(day, artist_id, owner_id, medium, status, currency) NULLS NOT DISTINCT",
    "CREATE INDEX ix_rollup_sales_daily_artist_id ON rollup_sales_daily (artist_id, day)",
    "CREATE INDEX ix_rollup_sales_daily_owner_id ON rollup_sales_daily (owner_id, day)",
    """
    CREATE TABLE rollup_sales_monthly (
        month date NOT NULL,
        medium varchar(300),
        status artwork_status NOT NULL,
        currency varchar(3) NOT NULL,
        sales bigint NOT NULL,
        price numeric NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX uq_rollup_sales_monthly_key ON rollup_sales_monthly "
    "(month, medium, status, currency) NULLS NOT DISTINCT",
    """
    CREATE TABLE rollup_artworks_monthly (
        month date,
        medium varchar(300),
        status artwork_status NOT NULL,
        artworks bigint NOT NULL,
        priced bigint NOT NULL,
        list_price numeric NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX uq_rollup_artworks_monthly_key ON rollup_artworks_monthly "
    "(month, medium, status) NULLS NOT DISTINCT",
    """
    CREATE TABLE rollup_visits_weekly (
        week date NOT NULL,
        exhibition_id uuid NOT NULL,
        visitors bigint NOT NULL,
        days integer NOT NULL,
        CONSTRAINT pk_rollup_visits_weekly PRIMARY KEY (week, exhibition_id)
    )
    """,
)

# -- the delta statements: each reads "changes", rows of a base table with a sign (+1 for
# -- a new row version, -1 for an old one), and adds the grouped sums to a rollup.

_SALES_DELTAS = """
    daily AS (
        SELECT (c.sold_at AT TIME ZONE 'UTC')::date AS day, a.artist_id, a.owner_id,
               a.medium, a.status, c.currency,
               sum(c.sign)::bigint AS sales, sum(c.sign * c.price) AS price
        FROM changes c JOIN public.artworks a ON a.id = c.artwork_id
        GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(c.sign) <> 0 OR sum(c.sign * c.price) <> 0
    ),
    monthly AS (
        INSERT INTO public.rollup_sales_monthly AS r
            (month, medium, status, currency, sales, price)
        SELECT date_trunc('month', day)::date, medium, status, currency, sum(sales),
               sum(price)
        FROM daily GROUP BY 1, 2, 3, 4
        HAVING sum(sales) <> 0 OR sum(price) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (month, medium, status, currency) DO UPDATE
        SET sales = r.sales + excluded.sales, price = r.price + excluded.price
    )
    INSERT INTO public.rollup_sales_daily AS r
        (day, artist_id, owner_id, medium, status, currency, sales, price)
    SELECT * FROM daily ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (day, artist_id, owner_id, medium, status, currency) DO UPDATE
    SET sales = r.sales + excluded.sales, price = r.price + excluded.price;
"""

_SALES_CLEANUP = """
    DELETE FROM public.rollup_sales_daily
    WHERE sales = 0 AND day IN (SELECT (sold_at AT TIME ZONE 'UTC')::date FROM changes);
    DELETE FROM public.rollup_sales_monthly
    WHERE sales = 0
      AND month IN (SELECT date_trunc('month', sold_at AT TIME ZONE 'UTC')::date FROM changes);
"""

_ARTWORK_DELTAS = """
    INSERT INTO public.rollup_artworks_monthly AS r
        (month, medium, status, artworks, priced, list_price)
    SELECT date_trunc('month', acquired_at AT TIME ZONE 'UTC')::date, medium, status,
           sum(sign)::bigint, coalesce(sum(sign) FILTER (WHERE list_price IS NOT NULL), 0)::bigint,
           coalesce(sum(sign * list_price), 0)
    FROM changes GROUP BY 1, 2, 3
    HAVING sum(sign) <> 0 OR coalesce(sum(sign * list_price), 0) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (month, medium, status) DO UPDATE
    SET artworks = r.artworks + excluded.artworks,
        priced = r.priced + excluded.priced,
        list_price = r.list_price + excluded.list_price;
"""

_ARTWORK_CLEANUP = """
    DELETE FROM public.rollup_artworks_monthly r
    WHERE r.artworks = 0 AND EXISTS (
        SELECT FROM changes c
        WHERE date_trunc('month', c.acquired_at AT TIME ZONE 'UTC')::date
              IS NOT DISTINCT FROM r.month);
"""

_VISIT_DELTAS = """
    INSERT INTO public.rollup_visits_weekly AS r (week, exhibition_id, visitors, days)
    SELECT date_trunc('week', day::timestamp)::date, exhibition_id, sum(sign * visitors)::bigint,
           sum(sign)::integer
    FROM changes GROUP BY 1, 2
    HAVING sum(sign) <> 0 OR sum(sign * visitors) <> 0
    ORDER BY 1, 2
    ON CONFLICT (week, exhibition_id) DO UPDATE
    SET visitors = r.visitors + excluded.visitors, days = r.days + excluded.days;
"""

_VISIT_CLEANUP = """
    DELETE FROM public.rollup_visits_weekly
    WHERE days = 0 AND week IN (SELECT date_trunc('week', day::timestamp)::date FROM changes);
"""


def _changes(columns: str, operation: str) -> str:
    """The signed row versions a statement changed: ``changes(columns..., sign)``."""
    new = f"SELECT {columns}, 1 AS sign FROM new_rows"
    old = f"SELECT {columns}, -1 AS sign FROM old_rows"
    rows = {"INSERT": new, "DELETE": old, "UPDATE": f"{new} UNION ALL {old}"}[operation]
    return f"changes AS ({rows})"


def _with_changes(statements: str, columns: str, operation: str) -> str:
    """Each statement of ``statements`` prefixed with the WITH of the changes."""
    prefix = f"WITH {_changes(columns, operation)}"
    parts = [part.strip() for part in statements.split(";") if part.strip()]
    return "\n".join(
        f"{prefix}, {part};" if part.startswith("daily AS") else f"{prefix} {part};"
        for part in parts
    )


def _function(name: str, body_by_operation: dict[str, str], truncate: str) -> str:
    branches = "\n".join(
        f"{'IF' if index == 0 else 'ELSIF'} TG_OP = '{operation}' THEN\n{body}"
        for index, (operation, body) in enumerate(body_by_operation.items())
    )
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
        "SET search_path = pg_catalog, public AS $fn$\nBEGIN\n"
        f"{branches}\nELSIF TG_OP = 'TRUNCATE' THEN\n{truncate}\nEND IF;\n"
        "RETURN NULL;\nEND\n$fn$"
    )


_SALE_COLUMNS = "sold_at, artwork_id, currency, price"
_ARTWORK_COLUMNS = "acquired_at, medium, status, list_price"
_VISIT_COLUMNS = "day, exhibition_id, visitors"

# An artwork's artist, owner, medium or status is copied into the sales rollups: when it
# changes, its sales move from the old group to the new one.
_ARTWORK_SALES_MOVED = """
    WITH moved AS (
        SELECT o.id, o.artist_id AS old_artist, o.owner_id AS old_owner,
               o.medium AS old_medium, o.status AS old_status,
               n.artist_id, n.owner_id, n.medium, n.status
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.artist_id, o.owner_id, o.medium, o.status)
              IS DISTINCT FROM (n.artist_id, n.owner_id, n.medium, n.status)
    ),
    signed AS (
        SELECT (s.sold_at AT TIME ZONE 'UTC')::date AS day, m.artist_id, m.owner_id,
               m.medium, m.status, s.currency, 1 AS sign, s.price
        FROM moved m JOIN public.sales s ON s.artwork_id = m.id
        UNION ALL
        SELECT (s.sold_at AT TIME ZONE 'UTC')::date, m.old_artist, m.old_owner,
               m.old_medium, m.old_status, s.currency, -1, s.price
        FROM moved m JOIN public.sales s ON s.artwork_id = m.id
    ),
    daily AS (
        SELECT day, artist_id, owner_id, medium, status, currency,
               sum(sign)::bigint AS sales, sum(sign * price) AS price
        FROM signed GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(sign) <> 0 OR sum(sign * price) <> 0
    ),
    monthly AS (
        INSERT INTO public.rollup_sales_monthly AS r
            (month, medium, status, currency, sales, price)
        SELECT date_trunc('month', day)::date, medium, status, currency, sum(sales),
               sum(price)
        FROM daily GROUP BY 1, 2, 3, 4
        HAVING sum(sales) <> 0 OR sum(price) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (month, medium, status, currency) DO UPDATE
        SET sales = r.sales + excluded.sales, price = r.price + excluded.price
    )
    INSERT INTO public.rollup_sales_daily AS r
        (day, artist_id, owner_id, medium, status, currency, sales, price)
    SELECT * FROM daily ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (day, artist_id, owner_id, medium, status, currency) DO UPDATE
    SET sales = r.sales + excluded.sales, price = r.price + excluded.price;
    IF FOUND THEN
        DELETE FROM public.rollup_sales_daily r
        WHERE r.sales = 0 AND r.day IN (
            SELECT (s.sold_at AT TIME ZONE 'UTC')::date
            FROM old_rows o JOIN public.sales s ON s.artwork_id = o.id);
        DELETE FROM public.rollup_sales_monthly r
        WHERE r.sales = 0 AND r.month IN (
            SELECT date_trunc('month', s.sold_at AT TIME ZONE 'UTC')::date
            FROM old_rows o JOIN public.sales s ON s.artwork_id = o.id);
    END IF;
"""


def _functions() -> list[str]:
    sales = {
        "INSERT": _with_changes(_SALES_DELTAS, _SALE_COLUMNS, "INSERT"),
        "UPDATE": _with_changes(_SALES_DELTAS + _SALES_CLEANUP, _SALE_COLUMNS, "UPDATE"),
        "DELETE": _with_changes(_SALES_DELTAS + _SALES_CLEANUP, _SALE_COLUMNS, "DELETE"),
    }
    artworks = {
        "INSERT": _with_changes(_ARTWORK_DELTAS, _ARTWORK_COLUMNS, "INSERT"),
        "UPDATE": _with_changes(_ARTWORK_DELTAS + _ARTWORK_CLEANUP, _ARTWORK_COLUMNS, "UPDATE")
        + _ARTWORK_SALES_MOVED,
        "DELETE": _with_changes(_ARTWORK_DELTAS + _ARTWORK_CLEANUP, _ARTWORK_COLUMNS, "DELETE"),
    }
    visits = {
        "INSERT": _with_changes(_VISIT_DELTAS, _VISIT_COLUMNS, "INSERT"),
        "UPDATE": _with_changes(_VISIT_DELTAS + _VISIT_CLEANUP, _VISIT_COLUMNS, "UPDATE"),
        "DELETE": _with_changes(_VISIT_DELTAS + _VISIT_CLEANUP, _VISIT_COLUMNS, "DELETE"),
    }
    return [
        _function(
            "rollup_sales_maintain",
            sales,
            "TRUNCATE public.rollup_sales_daily, public.rollup_sales_monthly;",
        ),
        _function(
            "rollup_artworks_maintain",
            artworks,
            # Sales cannot outlive their artworks (foreign key): a TRUNCATE of artworks
            # truncates sales in the same statement, whose trigger empties its rollups.
            "TRUNCATE public.rollup_artworks_monthly;",
        ),
        _function("rollup_visits_maintain", visits, "TRUNCATE public.rollup_visits_weekly;"),
    ]


_TRIGGERS = (
    ("sales", "rollup_sales_maintain"),
    ("artworks", "rollup_artworks_maintain"),
    ("exhibition_visits", "rollup_visits_maintain"),
)


def _triggers() -> list[str]:
    statements = []
    for table, function in _TRIGGERS:
        statements += [
            f"CREATE TRIGGER rollup_on_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER rollup_on_update AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER rollup_on_delete AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER rollup_on_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    return statements


# The rollups built from the base tables: the backfill here, and the reference the tests
# compare the maintained rollups with (tests/integration/rollups, with 0008's and 0009's).
REBUILD = {
    "rollup_sales_daily": """
        SELECT (s.sold_at AT TIME ZONE 'UTC')::date AS day, a.artist_id, a.owner_id,
               a.medium, a.status, s.currency, count(*) AS sales, sum(s.price) AS price
        FROM public.sales s JOIN public.artworks a ON a.id = s.artwork_id
        GROUP BY 1, 2, 3, 4, 5, 6
    """,
    "rollup_sales_monthly": """
        SELECT date_trunc('month', s.sold_at AT TIME ZONE 'UTC')::date AS month, a.medium,
               a.status, s.currency, count(*) AS sales, sum(s.price) AS price
        FROM public.sales s JOIN public.artworks a ON a.id = s.artwork_id
        GROUP BY 1, 2, 3, 4
    """,
    "rollup_artworks_monthly": """
        SELECT date_trunc('month', acquired_at AT TIME ZONE 'UTC')::date AS month, medium,
               status, count(*) AS artworks, count(list_price) AS priced,
               coalesce(sum(list_price), 0) AS list_price
        FROM public.artworks GROUP BY 1, 2, 3
    """,
    "rollup_visits_weekly": """
        SELECT date_trunc('week', day::timestamp)::date AS week, exhibition_id,
               sum(visitors) AS visitors, count(*) AS days
        FROM public.exhibition_visits GROUP BY 1, 2
    """,
}


def upgrade() -> None:
    for statement in _TABLES:
        op.execute(statement)
    for table in ROLLUP_TABLES:
        op.execute(f"INSERT INTO {table} {REBUILD[table]}")
        op.execute(f"ANALYZE {table}")
    for function in _functions():
        op.execute(function)
    for _, function in _TRIGGERS:
        op.execute(f"REVOKE ALL ON FUNCTION {function}() FROM PUBLIC")
    for statement in _triggers():
        op.execute(statement)
    tables = ", ".join(ROLLUP_TABLES)
    op.execute(
        "DO $$ BEGIN "
        f"IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{_WRITER}') THEN "
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {tables} FROM {_WRITER}; "
        "END IF; END $$"
    )


def downgrade() -> None:
    for table, function in _TRIGGERS:
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER rollup_on_{event} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
    for table in reversed(ROLLUP_TABLES):
        op.execute(f"DROP TABLE {table}")
