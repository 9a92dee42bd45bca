"""``read_rows`` gives what ``conn.execute`` gives for the same statement, on the real
database (PostgreSQL when ``TEST_POSTGRES_URL`` is set, where it runs on asyncpg
directly; SQLite otherwise): the same values of the same types, ``UTCDateTime``'s
conversions included, in the same order, with the columns as attributes."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import UTCDateTime, create_engine, is_sqlite, read_rows
from servicekit.testing import drop_database, fresh_database_url

pytestmark = pytest.mark.integration

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("amount", Numeric(14, 6), nullable=False),
    Column("due", Date, nullable=True),
    Column("at", UTCDateTime(), nullable=True),
    Column("flag", Boolean, nullable=False),
    Column("rank", Integer, nullable=False),
)

# Parameters of several types, one of them (``since``) a UTCDateTime to convert, and one
# used twice; a label; an order the driver must keep.
STATEMENT = (
    select(things.c.id, things.c.name.label("title"), things.c.amount, things.c.due)
    .add_columns(things.c.at, things.c.flag, things.c.rank)
    .where(things.c.rank >= bindparam("low"))
    .where((things.c.at.is_(None)) | (things.c.at >= bindparam("since", type_=UTCDateTime())))
    .where(things.c.name != bindparam("skip"))
    .where(things.c.rank != bindparam("low") + 100)
    .order_by(things.c.rank.desc())
    .limit(bindparam("limit", type_=Integer))
)


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    url = await fresh_database_url("rows")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(
                insert(things),
                [
                    {
                        "id": uuid.uuid4(),
                        "name": f"thing {i}",
                        "amount": Decimal("12.345678") * i,
                        "due": date(2026, 1, 1) + timedelta(days=i) if i % 3 else None,
                        "at": datetime(2026, 3, 29, 1, i, tzinfo=UTC) if i % 4 else None,
                        "flag": i % 2 == 0,
                        "rank": i,
                    }
                    for i in range(12)
                ],
            )
        yield engine
    finally:
        await engine.dispose()
        await drop_database(url)


async def test_read_rows_gives_what_execute_gives(engine: AsyncEngine) -> None:
    params = {
        "low": 2,
        "since": datetime(2026, 3, 29, 3, 4, tzinfo=timezone(timedelta(hours=2))),
        "skip": "thing 7",
        "limit": 8,
    }
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not is_sqlite(str(engine.url)):
            await conn.execute(text("SET TIME ZONE 'America/New_York'"))
        executed = list(await conn.execute(STATEMENT, params))
        read = await read_rows(conn, STATEMENT, params)
        again = await read_rows(conn, STATEMENT, {**params, "limit": 2})

    assert [r.rank for r in executed] == [11, 10, 9, 8, 6, 5, 4]
    assert [tuple(r) for r in read] == [tuple(r) for r in executed]
    for got, expected in zip(read, executed, strict=True):
        # asyncpg's UUID is a uuid.UUID: the types are the same or narrower
        assert all(isinstance(g, type(e)) for g, e in zip(got, expected, strict=True))
        assert got.title == expected.title and got.amount == expected.amount
        if got.at is not None:
            assert got.at.tzinfo is UTC  # UTCDateTime's conversion, whatever the session's zone
    assert [r.rank for r in again] == [11, 10]
