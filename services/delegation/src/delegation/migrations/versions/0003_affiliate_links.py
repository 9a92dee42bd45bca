"""[9.1] affiliate_links: the affiliates operator staff confirmed when accepting a
registration. A listed enterprise number alone no longer links a company that registers
under it; links derived from listed numbers before this revision are not carried over
(each needs the operator's decision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.db import UTCDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "affiliate_links",
        sa.Column("parent_id", sa.Uuid(), nullable=False),
        sa.Column("affiliate_id", sa.Uuid(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("parent_id", "affiliate_id", name=op.f("pk_affiliate_links")),
    )
    op.create_index(
        op.f("ix_affiliate_links_affiliate_id"), "affiliate_links", ["affiliate_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_affiliate_links_affiliate_id"), table_name="affiliate_links")
    op.drop_table("affiliate_links")
