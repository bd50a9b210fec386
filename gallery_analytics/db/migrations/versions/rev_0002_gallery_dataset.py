"""The dataset's own description: one row with its reference date ("today").

Demo data is generated around a fixed date; recording it in the database lets every
process that reads this data (kernels, Voila, the CLI) agree on "today" without each
being configured (``Database.today``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gallery_dataset",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("reference_date", sa.Date(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "loaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id", name=op.f("ck_gallery_dataset_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gallery_dataset")),
    )


def downgrade() -> None:
    op.drop_table("gallery_dataset")
