"""``Database.reading()``: a transaction only if the block uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from servicekit.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    metadata = MetaData()
    Table("facts", metadata, Column("id", Integer, primary_key=True))
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/reading.db", metadata)
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return database


async def test_a_block_that_does_not_touch_the_session_opens_nothing(db: Database) -> None:
    made = 0
    factory = db.sessions

    def counting() -> object:
        nonlocal made
        made += 1
        return factory()

    db.sessions = counting  # type: ignore[assignment]
    async with db.reading():
        pass
    assert made == 0
    await db.dispose()


async def test_a_block_that_reads_gets_a_transaction_committed_at_the_end(db: Database) -> None:
    table = db.metadata.tables["facts"]
    written: list[int] = []
    db.on_write_commit(lambda: written.append(1))
    async with db.reading() as session:
        await session.execute(insert(table).values(id=1))
    async with db.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(table))).scalar() == 1
    assert written == [1]
    await db.dispose()


async def test_an_error_rolls_the_block_back(db: Database) -> None:
    table = db.metadata.tables["facts"]
    with pytest.raises(RuntimeError):
        async with db.reading() as session:
            await session.execute(insert(table).values(id=2))
            raise RuntimeError("refused")
    async with db.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(table))).scalar() == 0
    await db.dispose()
