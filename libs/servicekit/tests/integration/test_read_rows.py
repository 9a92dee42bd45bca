"""``Database.read_rows`` gives what ``conn.execute`` gives for the same statement, on
SQLite and on PostgreSQL (when ``TEST_POSTGRES_URL`` is set, as ``make test`` sets it;
there it runs on asyncpg directly): the same values of the same types, ``UTCDateTime``'s
conversions included, in the same order, with the columns as attributes. A connection
lost under it (PostgreSQL) or a file another process holds (SQLite) is an outage (503),
and the next read succeeds."""

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

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
    event,
    insert,
    select,
    text,
)

from servicekit.db import Database, UTCDateTime, create_engine, is_sqlite, sqlite_path
from servicekit.faults import is_database_unavailable
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


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    # PostgreSQL when TEST_POSTGRES_URL is set (make test sets it), else SQLite twice.
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/rows.db"
    else:
        url = await fresh_database_url("rows")
    db = Database(url, metadata)
    try:
        async with db.engine.begin() as conn:
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
        yield db
    finally:
        await db.dispose()
        await drop_database(url)


PARAMS = {
    "low": 2,
    "since": datetime(2026, 3, 29, 3, 4, tzinfo=timezone(timedelta(hours=2))),
    "skip": "thing 7",
    "limit": 8,
}


async def test_read_rows_gives_what_execute_gives(db: Database) -> None:
    if not is_sqlite(db.url):  # the pool's connections, whose session zone is not UTC
        db.engine.sync_engine.pool.dispose()

        @event.listens_for(db.engine.sync_engine, "connect")
        def new_york(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SET TIME ZONE 'America/New_York'")
            cursor.close()

    async with db.statements() as conn:
        executed = list(await conn.execute(STATEMENT, PARAMS))
    read = await db.read_rows(STATEMENT, PARAMS)
    again = await db.read_rows(STATEMENT, {**PARAMS, "limit": 2})

    assert [r.rank for r in executed] == [11, 10, 9, 8, 6, 5, 4]
    assert [tuple(r) for r in read] == [tuple(r) for r in executed]
    for got, expected in zip(read, executed, strict=True):
        # asyncpg's UUID is a uuid.UUID: the types are the same or narrower
        assert all(isinstance(g, type(e)) for g, e in zip(got, expected, strict=True))
        assert got.title == expected.title and got.amount == expected.amount
        if got.at is not None:
            assert got.at.tzinfo is UTC  # UTCDateTime's conversion, whatever the session's zone
    assert [r.rank for r in again] == [11, 10]


async def _kill_the_pools_connection(url: str) -> None:
    """The server ends the pool's connection, as a restart would (asked from another
    engine); wait until it is gone (a backend ends shortly after it is told to)."""
    admin = create_engine(url)
    try:
        async with admin.connect() as conn:
            # Autocommit: in a transaction pg_stat_activity is one snapshot.
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            pids = list(
                (
                    await conn.execute(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE datname = "
                            "current_database() AND pid <> pg_backend_pid() "
                            "AND backend_type = 'client backend'"
                        )
                    )
                ).scalars()
            )
            assert len(pids) == 1  # the pool's one connection
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
            for _ in range(100):
                alive = await conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pids[0]},
                )
                if alive.scalar() == 0:
                    break
                await asyncio.sleep(0.05)
    finally:
        await admin.dispose()


@contextmanager
def _held_exclusively(path: str) -> Iterator[None]:
    """Another connection holds the SQLite file exclusively (``locking_mode=EXCLUSIVE``:
    even a WAL reader is refused), as a tool or a stuck process would."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("COMMIT")  # the lock stays, in this mode, until the mode changes
        yield
    finally:
        holder.execute("PRAGMA locking_mode=NORMAL")
        holder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # lets go
        holder.close()


async def test_a_lost_connection_is_an_outage_and_the_next_read_connects_afresh(
    db: Database,
) -> None:
    if is_sqlite(db.url):
        await db.engine.dispose()  # the writers' pool lets go of the file too
        with _held_exclusively(sqlite_path(db.url)), pytest.raises(ConnectionError) as lost:
            await db.read_rows(STATEMENT, PARAMS)
    else:
        assert len(await db.read_rows(STATEMENT, PARAMS)) == 7
        await _kill_the_pools_connection(db.url)
        with pytest.raises(ConnectionError) as lost:
            await db.read_rows(STATEMENT, PARAMS)
    assert is_database_unavailable(lost.value)
    assert len(await db.read_rows(STATEMENT, PARAMS)) == 7
