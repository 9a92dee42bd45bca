"""Kit tables v2: outbox_parked, where the relay sets aside events the broker can never
take instead of blocking the service's other events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from servicekit.migrations import create_kit_tables_v2, drop_kit_tables_v2

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v2()


def downgrade() -> None:
    drop_kit_tables_v2()
