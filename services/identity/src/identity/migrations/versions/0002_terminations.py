"""Terminations: notice given by the customer or the operator [2.2.2], and the moment a
customer's agreement ended.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "terminations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("by", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_terminations_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminations")),
    )
    with op.batch_alter_table("terminations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_terminations_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_terminations_status_effective_on", ["status", "effective_on"], unique=False
        )
        batch_op.create_index(
            "uq_terminations_pending_customer",
            ["customer_id"],
            unique=True,
            postgresql_where=sa.text("status = 'terminating'"),
            sqlite_where=sa.text("status = 'terminating'"),
        )
    # A nullable column: no table rewrite on either database.
    op.add_column(
        "customers", sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("terminated_at")
    with op.batch_alter_table("terminations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_terminations_pending_customer",
            postgresql_where=sa.text("status = 'terminating'"),
            sqlite_where=sa.text("status = 'terminating'"),
        )
        batch_op.drop_index("ix_terminations_status_effective_on")
        batch_op.drop_index(batch_op.f("ix_terminations_customer_id"))
    op.drop_table("terminations")
