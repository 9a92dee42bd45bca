"""Kit tables v3: no unique index on the outbox's event ids (ADR 32).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from servicekit.migrations import create_kit_tables_v3, drop_kit_tables_v3

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v3()


def downgrade() -> None:
    drop_kit_tables_v3()
