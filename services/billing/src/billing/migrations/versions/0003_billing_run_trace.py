"""billing_runs.trace_headers: the trace of the request that asked for a run, continued
by the worker so invoice.closed joins it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("billing_runs") as batch_op:
        batch_op.add_column(sa.Column("trace_headers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_runs") as batch_op:
        batch_op.drop_column("trace_headers")
