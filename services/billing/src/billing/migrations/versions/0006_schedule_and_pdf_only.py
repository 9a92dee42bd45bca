"""The scheduler's one-run-per-period marker; invoices.details_removed_at for fixed-line
invoices whose data retention removed while their PDF is kept.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_scheduled_periods",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.add_column(
            sa.Column("details_removed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_column("details_removed_at")
    op.drop_table("billing_scheduled_periods")
