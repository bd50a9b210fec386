"""Monthly exchange rates: money panels convert each sale into the chosen currency.

One rate per currency and month (its first day): what one unit was worth in the base
currency (EUR) that month. The base currency needs no row; a row for it must say 1.
The application roles get their privileges from the schema owner's default privileges
(``db/roles.py``): the reader may SELECT, the writer may write rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=18, scale=10), nullable=False),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_exchange_rates_currency_iso_4217")
        ),
        sa.CheckConstraint(
            "month = date_trunc('month', month)::date",
            name=op.f("ck_exchange_rates_month_first_day"),
        ),
        sa.CheckConstraint("rate > 0", name=op.f("ck_exchange_rates_rate_positive")),
        sa.CheckConstraint(
            "currency <> 'EUR' OR rate = 1", name=op.f("ck_exchange_rates_base_currency_is_one")
        ),
        sa.PrimaryKeyConstraint("currency", "month", name=op.f("pk_exchange_rates")),
    )


def downgrade() -> None:
    op.drop_table("exchange_rates")
