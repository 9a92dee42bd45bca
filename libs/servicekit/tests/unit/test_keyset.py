"""Keyset pagination: every row once, in order, across ties; bad cursors are 400s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, String, Table, Uuid, select

from servicekit.db import Database, UTCDateTime, new_metadata
from servicekit.pagination import Keyset, encode_cursor
from servicekit.problems import BadRequest

md = new_metadata()
things = Table(
    "things",
    md,
    Column("id", Uuid, primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("name", String(20), nullable=False),
)
NEWEST_FIRST = Keyset(things.c.created_at, things.c.id)
OLDEST_FIRST = Keyset(things.c.created_at, things.c.id, descending=False)


@pytest.fixture
async def db() -> Database:
    database = Database("sqlite+aiosqlite://", md)
    async with database.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    base = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    async with database.transaction() as session:
        for i in range(11):
            # Pairs share a timestamp: the id must break the tie.
            at = base + timedelta(minutes=i // 2)
            await session.execute(
                things.insert().values(id=uuid.uuid4(), created_at=at, name=f"t{i}")
            )
    return database


async def _walk(db: Database, keyset: Keyset, limit: int) -> list[tuple[datetime, uuid.UUID]]:
    seen: list[tuple[datetime, uuid.UUID]] = []
    cursor = None
    async with db.sessions() as session:
        while True:
            rows = (await session.execute(keyset.apply(select(things), cursor, limit))).all()
            page = keyset.page(rows, limit)
            assert len(page.items) <= limit
            seen += [(r.created_at, r.id) for r in page.items]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 3, 4, 11, 50])
async def test_every_row_once_in_order_newest_first(db: Database, limit: int) -> None:
    seen = await _walk(db, NEWEST_FIRST, limit)
    assert len(seen) == 11 and len(set(seen)) == 11
    assert seen == sorted(seen, reverse=True)


async def test_oldest_first_too(db: Database) -> None:
    seen = await _walk(db, OLDEST_FIRST, 4)
    assert len(set(seen)) == 11 and seen == sorted(seen)


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%not-base64",
        encode_cursor({"k": ["2026-11-01T09:00:00+00:00"]}),  # another list's position
        encode_cursor({"k": ["yesterday", str(uuid.uuid4())]}),
        encode_cursor({"k": ["2026-11-01T09:00:00+00:00", "not-a-uuid"]}),
        encode_cursor({"t": "2026-11-01T09:00:00+00:00"}),
        encode_cursor({"k": [1, 2]}),
    ],
)
def test_a_cursor_this_list_did_not_make_is_a_400(cursor: str) -> None:
    with pytest.raises(BadRequest) as refused:
        NEWEST_FIRST.decode(cursor)
    assert refused.value.status == 400 and refused.value.slug == "invalid-cursor"
