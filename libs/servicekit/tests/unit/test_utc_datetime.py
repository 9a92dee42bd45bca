"""``UTCDateTime`` on SQLite: aware UTC out whatever aware value went in, naive refused."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import UTCDateTime, create_engine

metadata = MetaData()
moments = Table(
    "moments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=True),
)


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _store_and_read(engine: AsyncEngine, value: datetime | None) -> datetime | None:
    async with engine.begin() as conn:
        row_id = (
            await conn.execute(insert(moments).values(at=value).returning(moments.c.id))
        ).scalar_one()
        return (await conn.execute(select(moments.c.at).where(moments.c.id == row_id))).scalar()


async def test_aware_utc_comes_back_aware_utc(engine: AsyncEngine) -> None:
    value = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)
    read = await _store_and_read(engine, value)
    assert read == value
    assert read is not None and read.tzinfo is UTC


async def test_other_offsets_come_back_as_the_same_instant_in_utc(engine: AsyncEngine) -> None:
    value = datetime(2026, 7, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    read = await _store_and_read(engine, value)
    assert read == value
    assert read is not None and read.tzinfo is UTC
    assert read == datetime(2026, 6, 30, 22, 30, tzinfo=UTC)
    assert (read.year, read.month, read.day, read.hour) == (2026, 6, 30, 22)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT at FROM moments"))).scalar()
    assert str(stored).startswith("2026-06-30 22:30:00")  # stored in UTC, no offset


async def test_none_stays_none(engine: AsyncEngine) -> None:
    assert await _store_and_read(engine, None) is None


async def test_naive_datetime_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(StatementError) as caught:
        await _store_and_read(engine, datetime(2026, 1, 1, 8, 30))
    assert isinstance(caught.value.orig, ValueError)
    assert "naive datetime" in str(caught.value.orig)


async def test_naive_datetime_is_refused_in_comparisons_too(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(StatementError):
            await conn.execute(select(moments).where(moments.c.at < datetime(2026, 1, 1)))


async def test_comparisons_use_the_instant(engine: AsyncEngine) -> None:
    await _store_and_read(engine, datetime(2026, 1, 1, 8, 30, tzinfo=UTC))
    brussels_same_instant = datetime(2026, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    async with engine.connect() as conn:
        found = (
            await conn.execute(select(moments.c.at).where(moments.c.at == brussels_same_instant))
        ).scalar()
    assert found == brussels_same_instant


def test_bind_and_result_processing_on_their_own() -> None:
    kind, dialect = UTCDateTime(), postgresql.dialect()
    plus_two = datetime(2026, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    bound = kind.process_bind_param(plus_two, dialect)
    assert bound == plus_two and bound is not None and bound.tzinfo is UTC
    from_postgres = kind.process_result_value(plus_two, dialect)
    assert from_postgres == plus_two and from_postgres is not None
    assert from_postgres.tzinfo is UTC
    from_sqlite = kind.process_result_value(datetime(2026, 1, 1, 8), sqlite.dialect())
    assert from_sqlite == datetime(2026, 1, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive datetime"):
        kind.process_bind_param(datetime(2026, 1, 1), dialect)
