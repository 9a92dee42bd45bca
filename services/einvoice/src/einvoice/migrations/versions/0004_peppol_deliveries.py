"""peppol_deliveries: invoices queued for the Peppol access point.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "peppol_deliveries",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("billing_account_id", sa.Uuid(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_peppol_deliveries")),
    )
    with op.batch_alter_table("peppol_deliveries") as batch_op:
        batch_op.create_index("ix_peppol_deliveries_due", ["next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("peppol_deliveries")
