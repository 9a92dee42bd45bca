"""Alembic, per service. A service's ``migrations/env.py`` is two lines::

    from servicekit.migrations import run_env
    from billing.models import Base
    run_env(Base.metadata)

and ``upgrade_to_head(url, migrations_dir)`` runs its migrations (at start-up by default,
or by the ``<service> migrate`` command before a rolling deploy).

A service's first migration creates the kit's outbox and inbox with
``create_kit_tables_v1()`` (and drops them with ``drop_kit_tables_v1()``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from servicekit.db import create_engine, is_sqlite

MIGRATION_LOCK = 0x0B0C_4D16  # advisory lock key, one per database


def alembic_config(url: str, migrations_dir: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _do_run(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(metadata: MetaData) -> None:
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url") or ""
    if is_sqlite(url):
        engine = create_engine(url)  # creates the folder and sets the pragmas
    else:
        engine = async_engine_from_config(
            cfg.get_section(cfg.config_ini_section, {}) or {"sqlalchemy.url": url},
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several instances starting at once (migrations on start): one migrates, the
            # others wait here and then find the database at head. Session-level lock,
            # released when this connection closes.
            await connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            await connection.commit()
        await connection.run_sync(_do_run, metadata)
    await engine.dispose()


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``env.py``."""
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async(metadata))


def upgrade_to_head(url: str, migrations_dir: Path) -> None:
    """Blocking; call from a worker thread when an event loop is running."""
    command.upgrade(alembic_config(url, migrations_dir), "head")


async def upgrade_to_head_async(url: str, migrations_dir: Path) -> None:
    await asyncio.to_thread(upgrade_to_head, url, migrations_dir)


def create_kit_tables_v1() -> None:
    """Create the kit's ``outbox`` and ``inbox`` tables, version 1, in a migration.

    Call it from the ``upgrade()`` of a service's initial migration (and
    ``drop_kit_tables_v1()`` from its ``downgrade()``); runs on SQLite and PostgreSQL.
    The tables are those of ``servicekit.db.inbox_table``/``outbox_table`` as they were
    when this was written: same columns, ``pk_inbox``, ``ix_inbox_processed_at``,
    ``pk_outbox`` and ``uq_outbox_event_id``.

    Never change this function (nor ``drop_kit_tables_v1``). A migration is a frozen
    snapshot of the schema, and services' migrations already applied call it: if its body
    followed the models, a fresh database would get a schema that databases migrated
    earlier never got. When the kit tables change, add a new step here
    (``..._kit_tables_v2()``: the change from v1 to v2, and its reverse) and a new
    migration in every service that calls it.
    """
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_inbox")),
    )
    op.create_index(op.f("ix_inbox_processed_at"), "inbox", ["processed_at"], unique=False)
    op.create_table(
        "outbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )


def drop_kit_tables_v1() -> None:
    """Drop what ``create_kit_tables_v1()`` created (a ``downgrade()``). Frozen likewise."""
    op.drop_table("outbox")
    op.drop_index(op.f("ix_inbox_processed_at"), table_name="inbox")
    op.drop_table("inbox")


def create_kit_tables_v2() -> None:
    """Kit tables v1 -> v2: ``outbox_parked``, where the relay sets aside an event the
    broker can never take (too large, no such topic) instead of blocking every event
    after it. Same columns as ``outbox`` plus when and why. Frozen like v1."""
    op.create_table(
        "outbox_parked",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox_parked")),
    )


def drop_kit_tables_v2() -> None:
    """Kit tables v2 -> v1 (a ``downgrade()``). Frozen likewise."""
    op.drop_table("outbox_parked")


def create_kit_tables_v3() -> None:
    """Kit tables v2 -> v3: the outbox's ``event_id`` loses its unique index (ADR 32).
    Frozen like v1."""
    with op.batch_alter_table("outbox") as batch:  # SQLite rebuilds the table
        batch.drop_constraint(op.f("uq_outbox_event_id"), type_="unique")


def drop_kit_tables_v3() -> None:
    """Kit tables v3 -> v2 (a ``downgrade()``). Frozen likewise."""
    with op.batch_alter_table("outbox") as batch:
        batch.create_unique_constraint(op.f("uq_outbox_event_id"), ["event_id"])
