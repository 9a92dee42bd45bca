"""The migrations build exactly the models, and 0002 (terminations) goes down and up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from identity.main import MIGRATIONS_DIR
from identity.models import Base
from servicekit.db import create_engine
from servicekit.migrations import alembic_config, upgrade_to_head
from servicekit.testing import drop_database, fresh_database_url, schema_diff

pytestmark = pytest.mark.integration


async def _diff(url: str) -> list[object]:
    return await schema_diff(url, Base.metadata)


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrations_build_exactly_the_models_and_step_back(tmp_path: Path) -> None:
    # The configured engine (PostgreSQL with TEST_POSTGRES_URL), and SQLite always.
    urls = [f"sqlite+aiosqlite:///{tmp_path}/identity.db"]
    fresh = await fresh_database_url("identity")
    if not fresh.startswith("sqlite"):
        urls.append(fresh)
    try:
        for url in urls:
            await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)
            await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)  # idempotent
            assert await _diff(url) == [], url

            cfg = alembic_config(url, MIGRATIONS_DIR)
            await asyncio.to_thread(command.downgrade, cfg, "0001")
            assert "terminations" not in await _tables(url)
            await asyncio.to_thread(command.upgrade, cfg, "head")
            assert await _diff(url) == [], url
    finally:
        await drop_database(fresh)
