"""Kit tables v3: no unique index on the outbox's event ids (ADR 32).

And usage records are indexed by invoice only once invoiced: a new record (not yet
invoiced) no longer adds an entry to that index.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.migrations import create_kit_tables_v3, drop_kit_tables_v3

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v3()
    op.drop_index("ix_usage_records_invoice_id", table_name="usage_records")
    op.create_index(
        "ix_usage_records_invoice_id",
        "usage_records",
        ["invoice_id"],
        postgresql_where=sa.text("invoice_id IS NOT NULL"),
        sqlite_where=sa.text("invoice_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_usage_records_invoice_id", table_name="usage_records")
    op.create_index("ix_usage_records_invoice_id", "usage_records", ["invoice_id"])
    drop_kit_tables_v3()
