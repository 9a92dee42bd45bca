"""customer_audit_events: one append-only, hash-chained audit trail of rights per customer,
fed by ``audit.recorded`` [14.2].

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "customer_audit_events"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("audit_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("actor_kind", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "seq", name=op.f("pk_customer_audit_events")),
        sa.UniqueConstraint("audit_id", name=op.f("uq_customer_audit_events_audit_id")),
    )
    op.create_index(
        "ix_customer_audit_events_customer_id_at", TABLE, ["customer_id", "at"], unique=False
    )
    _append_only()


def _append_only() -> None:
    # The hash chain detects tampering; these triggers refuse it in the first place (an
    # attacker with DDL rights can drop them, which `portal-audit verify` still catches).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION customer_audit_events_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'customer_audit_events is append-only'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER customer_audit_events_no_change BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION customer_audit_events_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER customer_audit_events_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION customer_audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER customer_audit_events_no_{verb.lower()} BEFORE {verb} "
                f"ON {TABLE} BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS customer_audit_events_no_truncate ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS customer_audit_events_no_change ON {TABLE}")
        op.execute("DROP FUNCTION IF EXISTS customer_audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS customer_audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS customer_audit_events_no_delete")
    op.drop_index("ix_customer_audit_events_customer_id_at", table_name=TABLE)
    op.drop_table(TABLE)
