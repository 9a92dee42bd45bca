"""Initial schema: SIMs, options, history, devices, consumption counters, fleet
manager, terminated customers, and servicekit's outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 07:04:35.676182

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.migrations import create_kit_tables_v1, drop_kit_tables_v1

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "counted_records",
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_counted_records")),
    )
    with op.batch_alter_table("counted_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_counted_records_period"), ["period"], unique=False)

    op.create_table(
        "fleet_managers",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sim_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_fleet_managers")),
    )
    create_kit_tables_v1()

    op.create_table(
        "sims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("billing_account_id", sa.Uuid(), nullable=False),
        sa.Column("iccid", sa.String(length=20), nullable=False),
        sa.Column("imsi", sa.String(length=15), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tariff_plan", sa.String(length=40), nullable=False),
        sa.Column("end_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sims")),
        sa.UniqueConstraint("iccid", name=op.f("uq_sims_iccid")),
        sa.UniqueConstraint("imsi", name=op.f("uq_sims_imsi")),
    )
    with op.batch_alter_table("sims", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sims_billing_account_id"), ["billing_account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sims_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_sims_customer_msisdn", ["customer_id", "msisdn"], unique=False)
        batch_op.create_index(
            "uq_sims_active_msisdn",
            ["msisdn"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "terminated_customers",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_terminated_customers")),
    )
    op.create_table(
        "device_uses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sim_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("ownership", sa.String(length=20), nullable=False),
        sa.Column("imei", sa.String(length=15), nullable=True),
        sa.Column("brand", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sim_id"], ["sims.id"], name=op.f("fk_device_uses_sim_id_sims"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_uses")),
    )
    with op.batch_alter_table("device_uses", schema=None) as batch_op:
        batch_op.create_index("ix_device_uses_customer_imei", ["customer_id", "imei"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_uses_sim_id"), ["sim_id"], unique=False)

    op.create_table(
        "sim_history",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sim_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("change", sa.String(length=40), nullable=False),
        sa.Column("from_value", sa.String(length=200), nullable=True),
        sa.Column("to_value", sa.String(length=200), nullable=True),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sim_id"], ["sims.id"], name=op.f("fk_sim_history_sim_id_sims"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sim_history")),
        sa.UniqueConstraint("id", name=op.f("uq_sim_history_id")),
    )
    with op.batch_alter_table("sim_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sim_history_sim_id"), ["sim_id"], unique=False)

    op.create_table(
        "sim_options",
        sa.Column("sim_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sim_id"], ["sims.id"], name=op.f("fk_sim_options_sim_id_sims"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sim_id", "code", name=op.f("pk_sim_options")),
    )
    op.create_table(
        "usage_counters",
        sa.Column("sim_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sim_id"], ["sims.id"], name=op.f("fk_usage_counters_sim_id_sims"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sim_id", "period", "kind", name=op.f("pk_usage_counters")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("usage_counters")
    op.drop_table("sim_options")
    with op.batch_alter_table("sim_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_history_sim_id"))

    op.drop_table("sim_history")
    with op.batch_alter_table("device_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_uses_sim_id"))
        batch_op.drop_index("ix_device_uses_customer_imei")

    op.drop_table("device_uses")
    op.drop_table("terminated_customers")
    with op.batch_alter_table("sims", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_sims_active_msisdn",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_sims_customer_msisdn")
        batch_op.drop_index(batch_op.f("ix_sims_customer_id"))
        batch_op.drop_index(batch_op.f("ix_sims_billing_account_id"))

    op.drop_table("sims")
    drop_kit_tables_v1()
    op.drop_table("fleet_managers")
    with op.batch_alter_table("counted_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_counted_records_period"))

    op.drop_table("counted_records")
