"""``UTCDateTime`` against the real database (PostgreSQL when ``TEST_POSTGRES_URL`` is
set): aware UTC out whatever aware value went in, whatever the session's time zone."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import UTCDateTime, create_engine, is_sqlite
from servicekit.testing import drop_database, fresh_database_url

pytestmark = pytest.mark.integration

metadata = MetaData()
moments = Table(
    "moments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=True),
)


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    url = await fresh_database_url("utc")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield engine
    finally:
        await engine.dispose()
        await drop_database(url)


async def _store(engine: AsyncEngine, value: datetime | None) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(insert(moments).values(at=value).returning(moments.c.id))
        return int(result.scalar_one())


async def _read(engine: AsyncEngine, row_id: int, session_zone: str | None = None) -> datetime:
    async with engine.connect() as conn:
        if session_zone and not is_sqlite(str(engine.url)):
            await conn.execute(text(f"SET TIME ZONE '{session_zone}'"))
        value = (await conn.execute(select(moments.c.at).where(moments.c.id == row_id))).scalar()
        await conn.rollback()
    assert isinstance(value, datetime)
    return value


async def test_round_trip_gives_aware_utc(engine: AsyncEngine) -> None:
    value = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)
    read = await _read(engine, await _store(engine, value))
    assert read == value and read.tzinfo is UTC


async def test_plus_two_comes_back_as_the_same_instant_in_utc(engine: AsyncEngine) -> None:
    value = datetime(2026, 7, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    row_id = await _store(engine, value)
    for zone in (None, "Europe/Brussels", "Asia/Kolkata"):
        read = await _read(engine, row_id, session_zone=zone)
        assert read == value and read.tzinfo is UTC
        assert (read.day, read.hour, read.minute) == (30, 22, 30)
    if not is_sqlite(str(engine.url)):
        async with engine.connect() as conn:
            stored = (
                await conn.execute(text("SELECT (at AT TIME ZONE 'UTC')::text FROM moments"))
            ).scalar()
        assert stored == "2026-06-30 22:30:00"  # the server holds the right instant


async def test_none_round_trips(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        row_id = await _store(engine, None)
        value = (await conn.execute(select(moments.c.at).where(moments.c.id == row_id))).scalar()
    assert value is None


async def test_naive_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(StatementError) as caught:
        await _store(engine, datetime(2026, 1, 1, 8, 30))
    assert isinstance(caught.value.orig, ValueError)
    async with engine.connect() as conn:
        count = (await conn.execute(select(moments.c.id))).all()
    assert count == []
