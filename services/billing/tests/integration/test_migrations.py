"""The migrations build exactly the models (the partial index of usage records by invoice
included), the outbox's values are lz4-compressed on PostgreSQL (0008), and 0008 and 0007
go down and up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from billing.main import MIGRATIONS_DIR
from billing.models import Base
from servicekit.db import create_engine
from servicekit.migrations import alembic_config, upgrade_to_head
from servicekit.testing import drop_database, fresh_database_url, schema_diff

pytestmark = pytest.mark.integration


async def _diff(url: str) -> list[object]:
    return await schema_diff(url, Base.metadata)


async def _invoice_index(url: str) -> str | None:
    """The WHERE of the index of usage records by invoice (None: a full index)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            if url.startswith("sqlite"):
                sql = "SELECT sql FROM sqlite_master WHERE name = :name"
            else:
                sql = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
            name = "ix_usage_records_invoice_id"
            definition = (await conn.execute(text(sql), {"name": name})).scalar_one()
    finally:
        await engine.dispose()
    where = definition.partition(" WHERE ")[2].strip().strip("()")
    return where or None


async def _outbox_compression(url: str) -> str | None:
    """How PostgreSQL compresses the outbox's values: 'l' lz4, '' the default (pglz)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            sql = (
                "SELECT attcompression::text FROM pg_attribute "
                "WHERE attrelid = 'outbox'::regclass AND attname = 'value'"
            )
            return str((await conn.execute(text(sql))).scalar_one()).strip()
    finally:
        await engine.dispose()


async def test_migrations_build_exactly_the_models_and_step_back(tmp_path: Path) -> None:
    # The configured engine (PostgreSQL with TEST_POSTGRES_URL), and SQLite always.
    urls = [f"sqlite+aiosqlite:///{tmp_path}/billing.db"]
    fresh = await fresh_database_url("billing_migrations")
    if not fresh.startswith("sqlite"):
        urls.append(fresh)
    try:
        for url in urls:
            await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)
            await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)  # idempotent
            assert await _diff(url) == [], url

            assert await _invoice_index(url) == "invoice_id IS NOT NULL", url
            if not url.startswith("sqlite"):
                assert await _outbox_compression(url) == "l", url

            cfg = alembic_config(url, MIGRATIONS_DIR)
            if not url.startswith("sqlite"):
                await asyncio.to_thread(command.downgrade, cfg, "0007")
                assert await _outbox_compression(url) in ("p", ""), url
            await asyncio.to_thread(command.downgrade, cfg, "0004")
            assert await _invoice_index(url) is None, url  # the full index again
            await asyncio.to_thread(command.upgrade, cfg, "head")
            assert await _diff(url) == [], url
            assert await _invoice_index(url) == "invoice_id IS NOT NULL", url
    finally:
        await drop_database(fresh)
