"""The daily sales rollup stores each row's month.

Why: top artists over a long range converts every daily rollup row (1M on the large demo
data) at the rate of its month, and computing ``date_trunc('month', day)`` per row to
join the rates was a fifth of the panel's time (EXPLAIN ANALYZE). A stored generated
column computes it once per written row; the triggers of 0006 need no change (their
inserts name their columns).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rate month of a UTC day (queries/overview.py's _month_of_day, as a column).
MONTH = "(date_trunc('month'::text, (day)::timestamp without time zone))::date"


def upgrade() -> None:
    op.execute(
        f"ALTER TABLE rollup_sales_daily ADD COLUMN month date GENERATED ALWAYS AS ({MONTH}) STORED"
    )
    op.execute("ANALYZE rollup_sales_daily")


def downgrade() -> None:
    op.execute("ALTER TABLE rollup_sales_daily DROP COLUMN month")
