"""catalogue_versions (the price catalogue billing owns) and sim_history (every SIM
change, for proration and allowances); the history starts from today's projection.

Revision ID: 0004
Revises: 0005 (main has 0003 -> 0006 -> 0005; one line of heads)
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_catalogue_versions")),
    )
    op.create_table(
        "sim_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sim_id", sa.Uuid(), nullable=False),
        sa.Column("change", sa.String(length=30), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("tariff_plan", sa.String(length=50), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_history")),
    )
    op.create_index(
        "ix_sim_history_sim_changed", "sim_history", ["sim_id", "changed_at"], unique=False
    )
    # What billing knew before keeping a history: each SIM as it is now, since it became
    # active, and its deactivation.
    op.execute(
        "INSERT INTO sim_history (sim_id, change, active, tariff_plan, options, changed_at) "
        "SELECT sim_id, 'provisioned', true, tariff_plan, options, active_since FROM sims"
    )
    op.execute(
        "INSERT INTO sim_history (sim_id, change, active, tariff_plan, options, changed_at) "
        "SELECT sim_id, 'deactivated', false, tariff_plan, options, deactivated_at FROM sims "
        "WHERE deactivated_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_sim_history_sim_changed", table_name="sim_history")
    op.drop_table("sim_history")
    op.drop_table("catalogue_versions")
