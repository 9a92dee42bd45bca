"""Alembic, per service. A service's ``migrations/env.py`` is two lines::

    from servicekit.migrations import run_env
    from billing.models import Base
    run_env(Base.metadata)

and ``upgrade_to_head(url, migrations_dir)`` runs its migrations (at start-up by default,
or by the ``<service> migrate`` command before a rolling deploy).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from servicekit.db import create_engine, is_sqlite


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
