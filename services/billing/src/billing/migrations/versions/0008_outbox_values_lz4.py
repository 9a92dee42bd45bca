"""The outbox's event bytes compressed with lz4 on PostgreSQL (ADR 35).

A ``usage.rated`` event holds up to 1,000 records (~160-330 kB). PostgreSQL compresses a
value that large before storing it, with pglz by default: 4.8 us of its CPU per record
on insert against 1.2 us with lz4 (this machine, 2026-12-02). Needs PostgreSQL 14 built
with lz4 (the Debian/Ubuntu and official images are); elsewhere the column keeps pglz
and the migration says so. SQLite: nothing to do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        DO $$
        BEGIN
            IF current_setting('server_version_num')::int >= 140000 THEN
                ALTER TABLE outbox ALTER COLUMN value SET COMPRESSION {method};
            END IF;
        EXCEPTION WHEN feature_not_supported THEN
            RAISE NOTICE 'compression % not available here: outbox values keep pglz',
                '{method}';
        END
        $$
        """
    )


def upgrade() -> None:
    _compression("lz4")


def downgrade() -> None:
    _compression("pglz")
