"""Legal Belgian invoice, Peppol UBL documents, credit notes and objection decisions:
customers projection, invoice kind/parties/payment reference, invoice_ubl,
credit_note_sequences, objection decision columns.

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_number", sa.String(length=10), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "invoice_ubl",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_ubl_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_ubl")),
    )
    op.create_table(
        "credit_note_sequences",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_credit_note_sequences")),
    )
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=12), nullable=False, server_default="invoice")
        )
        batch_op.add_column(sa.Column("corrects_invoice_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("payment_reference", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("parties", sa.JSON(), nullable=True))
        batch_op.drop_constraint("uq_invoices_billing_account_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_invoices_billing_account_id", ["billing_account_id", "period", "kind"]
        )
        batch_op.create_index(
            batch_op.f("ix_invoices_corrects_invoice_id"), ["corrects_invoice_id"], unique=False
        )
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.alter_column("kind", server_default=None)
    with op.batch_alter_table("objections") as batch_op:
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("decision_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("credit_note_id", sa.Uuid(), nullable=True))
    # Objections were recorded as "received"; they are open until an operator decides.
    op.execute("UPDATE objections SET status = 'open' WHERE status = 'received'")


def downgrade() -> None:
    op.execute("UPDATE objections SET status = 'received' WHERE status = 'open'")
    with op.batch_alter_table("objections") as batch_op:
        batch_op.drop_column("credit_note_id")
        batch_op.drop_column("decision_reason")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("decided_at")
    op.execute("DELETE FROM invoices WHERE kind = 'credit_note'")
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_corrects_invoice_id"))
        batch_op.drop_constraint("uq_invoices_billing_account_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_invoices_billing_account_id", ["billing_account_id", "period"]
        )
        batch_op.drop_column("parties")
        batch_op.drop_column("payment_reference")
        batch_op.drop_column("language")
        batch_op.drop_column("corrects_invoice_id")
        batch_op.drop_column("kind")
    op.drop_table("credit_note_sequences")
    op.drop_table("invoice_ubl")
    op.drop_table("customers")
