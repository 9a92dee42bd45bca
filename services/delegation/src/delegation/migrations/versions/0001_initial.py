"""Initial schema: customers, affiliates, users, assignments, SIMs, third-party
delegations, and servicekit's outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 07:08:16.889077

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
        "assignments",
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("profile", sa.String(length=30), nullable=False),
        sa.Column("subprofiles", sa.JSON(), nullable=False),
        sa.Column("scope_applications", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("scope_billing_accounts", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("scope_sims", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("third_party", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("granted_by", sa.String(length=100), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=60), nullable=True),
        sa.PrimaryKeyConstraint("assignment_id", name=op.f("pk_assignments")),
    )
    op.create_index(
        "ix_assignments_customer_status", "assignments", ["customer_id", "status", "granted_at"]
    )
    op.create_index("ix_assignments_user_status", "assignments", ["user_id", "status"])

    op.create_table(
        "customer_affiliates",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_number", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint(
            "customer_id", "enterprise_number", name=op.f("pk_customer_affiliates")
        ),
    )
    op.create_index(
        "ix_customer_affiliates_enterprise_number", "customer_affiliates", ["enterprise_number"]
    )

    op.create_table(
        "customers",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_number", sa.String(length=10), nullable=True),
        sa.Column("company_name", sa.String(length=300), nullable=True),
        sa.Column("wants_access_owner", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_index("ix_customers_enterprise_number", "customers", ["enterprise_number"])

    create_kit_tables_v1()

    op.create_table(
        "sims",
        sa.Column("sim_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("billing_account_id", sa.Uuid(), nullable=False),
        sa.Column("end_user_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sim_id", name=op.f("pk_sims")),
    )
    op.create_index("ix_sims_billing_account_id", "sims", ["billing_account_id"])
    op.create_index("ix_sims_end_user_id", "sims", ["end_user_id"])

    op.create_table(
        "third_party_delegations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("grantee_user_id", sa.Uuid(), nullable=False),
        sa.Column("scope_applications", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("scope_billing_accounts", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("scope_sims", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("assignment_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_third_party_delegations")),
    )
    op.create_index(
        "ix_third_party_delegations_customer",
        "third_party_delegations",
        ["customer_id", "requested_at"],
    )
    op.create_index(
        "ix_third_party_delegations_grantee_user_id", "third_party_delegations", ["grantee_user_id"]
    )
    op.create_index(
        "ix_third_party_delegations_status", "third_party_delegations", ["status", "requested_at"]
    )

    op.create_table(
        "users",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("profile", sa.String(length=30), nullable=True),
        sa.Column("contract_kind", sa.String(length=30), nullable=True),
        sa.Column("contract_ends_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
    )
    op.create_index("ix_users_contract_ends_on", "users", ["contract_ends_on"])
    op.create_index("ix_users_customer_id", "users", ["customer_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_users_customer_id", table_name="users")
    op.drop_index("ix_users_contract_ends_on", table_name="users")

    op.drop_table("users")
    op.drop_index("ix_third_party_delegations_status", table_name="third_party_delegations")
    op.drop_index(
        "ix_third_party_delegations_grantee_user_id", table_name="third_party_delegations"
    )
    op.drop_index("ix_third_party_delegations_customer", table_name="third_party_delegations")

    op.drop_table("third_party_delegations")
    op.drop_index("ix_sims_end_user_id", table_name="sims")
    op.drop_index("ix_sims_billing_account_id", table_name="sims")

    op.drop_table("sims")
    drop_kit_tables_v1()
    op.drop_index("ix_customers_enterprise_number", table_name="customers")

    op.drop_table("customers")
    op.drop_index("ix_customer_affiliates_enterprise_number", table_name="customer_affiliates")

    op.drop_table("customer_affiliates")
    op.drop_index("ix_assignments_user_status", table_name="assignments")
    op.drop_index("ix_assignments_customer_status", table_name="assignments")

    op.drop_table("assignments")
