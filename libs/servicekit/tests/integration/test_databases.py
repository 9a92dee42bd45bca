"""The kit's tables in migrations, and test databases that go away, on SQLite and
PostgreSQL (which one: ``TEST_POSTGRES_URL``)."""

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from servicekit.db import (
    Database,
    add_kit_tables,
    create_engine,
    is_sqlite,
    new_metadata,
    sqlite_path,
)
from servicekit.migrations import (
    create_kit_tables_v1,
    create_kit_tables_v2,
    create_kit_tables_v3,
    drop_kit_tables_v1,
    drop_kit_tables_v2,
    drop_kit_tables_v3,
)
from servicekit.testing import drop_database, fresh_database_url

pytestmark = pytest.mark.integration


def _create_compare_drop(conn: Connection) -> tuple[list[Any], list[str]]:
    metadata = new_metadata()
    add_kit_tables(metadata)
    ctx = MigrationContext.configure(conn, opts={"target_metadata": metadata, "compare_type": True})
    with Operations.context(ctx):
        create_kit_tables_v1()
        create_kit_tables_v2()
        create_kit_tables_v3()
        diff = compare_metadata(ctx, metadata)
        drop_kit_tables_v3()
        drop_kit_tables_v2()
        drop_kit_tables_v1()
    return diff, inspect(conn).get_table_names()


async def test_kit_table_steps_build_exactly_the_kit_tables() -> None:
    url = await fresh_database_url("kit")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            diff, left = await conn.run_sync(_create_compare_drop)
    finally:
        await engine.dispose()
        await drop_database(url)
    assert diff == []
    assert left == []


async def _exists_on_server(url: str) -> bool:
    base, name = url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)
    conn = await asyncpg.connect(base + "/postgres")
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def test_drop_database_leaves_nothing_behind() -> None:
    url = await fresh_database_url("kit")
    db = Database(url, new_metadata())
    async with db.engine.begin() as conn:
        await conn.run_sync(db.metadata.create_all)
    if is_sqlite(url):
        files = [Path(sqlite_path(url) + suffix) for suffix in ("", "-wal", "-shm")]
        assert all(f.exists() for f in files)  # WAL mode, the connection still open
        await drop_database(url)
        assert not any(f.exists() for f in files)
        await db.dispose()
    else:
        await db.dispose()
        assert await _exists_on_server(url)
        await drop_database(url)
        assert not await _exists_on_server(url)
    await drop_database(url)  # already gone is fine


async def test_connections_opened_under_load_are_kept_for_the_next_requests() -> None:
    """Fifteen requests at once, twice: the second wave uses the connections the first
    opened. An overflow connection closed on its return would make every burst pay a new
    server process, TLS handshake and password exchange (ADR 33)."""
    url = await fresh_database_url("kit_pool")
    assert url.startswith("postgresql"), "needs TEST_POSTGRES_URL (a server's connections)"
    db = Database(url, new_metadata())
    started = asyncio.Event()

    async def request(holding: list[int]) -> None:
        async with db.sessions() as session:
            holding.append((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            if len(holding) == 15:
                started.set()
            await started.wait()  # all fifteen hold a connection at once

    try:
        first: list[int] = []
        await asyncio.wait_for(asyncio.gather(*(request(first) for _ in range(15))), 10)
        started.clear()
        second: list[int] = []
        await asyncio.wait_for(asyncio.gather(*(request(second) for _ in range(15))), 10)
        assert len(set(first)) == 15
        assert set(second) == set(first)
    finally:
        await db.dispose()
        await drop_database(url)
