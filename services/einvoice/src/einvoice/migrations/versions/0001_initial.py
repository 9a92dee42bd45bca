"""initial

Revision ID: 0001
Revises:
Create Date: 2026-11-26 07:05:14.245407
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.migrations import create_kit_tables_v1, drop_kit_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_accounts",
        sa.Column("billing_account_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("billing_account_id", name=op.f("pk_billing_accounts")),
    )
    with op.batch_alter_table("billing_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_accounts_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=False),
        sa.Column("billing_account_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("channel_id", sa.Uuid(), nullable=True),
        sa.Column("notification_request_ids", sa.JSON(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("invoice_id", "channel", name="uq_deliveries_invoice_channel"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_account_time", ["billing_account_id", "delivered_at", "id"], unique=False
        )

    op.create_table(
        "delivery_channels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("scope_key", sa.String(length=60), nullable=False),
        sa.Column("billing_account_id", sa.Uuid(), nullable=False),
        sa.Column("account_kind", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("mobile", sa.String(length=20), nullable=True),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(length=2), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=True),
        sa.Column("bank_reference", sa.String(length=64), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_from_period", sa.String(length=7), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_channels")),
        sa.UniqueConstraint("bank_reference", name=op.f("uq_delivery_channels_bank_reference")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_delivery_channels_token_hash")),
    )
    with op.batch_alter_table("delivery_channels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_channels_billing_account_id"),
            ["billing_account_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_delivery_channels_customer_status", ["customer_id", "status"], unique=False
        )
        batch_op.create_index("ix_delivery_channels_expiry", ["status", "expires_at"], unique=False)
        batch_op.create_index(
            "uq_delivery_channels_active_scope",
            ["scope_key"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.create_index(
            "uq_delivery_channels_pending_scope",
            ["scope_key", "channel"],
            unique=True,
            postgresql_where=sa.text(
                "status IN ('pending_confirmation', 'pending_bank_acceptance')"
            ),
            sqlite_where=sa.text("status IN ('pending_confirmation', 'pending_bank_acceptance')"),
        )

    create_kit_tables_v1()


def downgrade() -> None:
    drop_kit_tables_v1()
    with op.batch_alter_table("delivery_channels", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_delivery_channels_pending_scope",
            postgresql_where=sa.text(
                "status IN ('pending_confirmation', 'pending_bank_acceptance')"
            ),
            sqlite_where=sa.text("status IN ('pending_confirmation', 'pending_bank_acceptance')"),
        )
        batch_op.drop_index(
            "uq_delivery_channels_active_scope",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_delivery_channels_expiry")
        batch_op.drop_index("ix_delivery_channels_customer_status")
        batch_op.drop_index(batch_op.f("ix_delivery_channels_billing_account_id"))

    op.drop_table("delivery_channels")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_account_time")

    op.drop_table("deliveries")
    with op.batch_alter_table("billing_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_accounts_customer_id"))

    op.drop_table("billing_accounts")
