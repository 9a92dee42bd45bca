"""The customers' audit trails on SQLite (migrated like production): one hash chain per
customer, appended once per audit id, refused edits, and ``portal-audit verify``."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from contracts.events.audit import AuditAction, AuditActorV1, AuditRecordedV1
from identity import audit_cli
from identity.domain import GENESIS_HASH, canonical_json
from identity.main import MIGRATIONS_DIR
from identity.models import Base, CustomerAuditEvent
from identity.service import audit_trail
from servicekit.db import Database
from servicekit.migrations import upgrade_to_head_async

AT = datetime(2026, 11, 30, 9, 15, 0, 123456, tzinfo=UTC)
DEPS: Any = SimpleNamespace(now=lambda: AT + timedelta(seconds=2))


def recorded(customer_id: uuid.UUID, **over: Any) -> AuditRecordedV1:
    values: dict[str, Any] = {
        "audit_id": uuid.uuid4(),
        "customer_id": customer_id,
        "source": "delegation",
        "actor": AuditActorV1(kind="user", id=str(uuid.uuid4())),
        "action": AuditAction.ASSIGNMENT_GRANTED,
        "target": {"assignment_id": str(uuid.uuid4())},
        "details": {"profile": "portal_user", "permissions": ["read"]},
        "occurred_at": AT,
    }
    values.update(over)
    return AuditRecordedV1(**values)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path}/identity.db"
    await upgrade_to_head_async(url, MIGRATIONS_DIR)
    database = Database(url, Base.metadata)
    yield database
    await database.dispose()


async def append(db: Database, payload: AuditRecordedV1) -> CustomerAuditEvent:
    async with db.transaction() as session:
        return await audit_trail.append_audit_event(session, DEPS, payload)


async def trail(db: Database, customer_id: uuid.UUID) -> list[CustomerAuditEvent]:
    async with db.sessions() as session:
        stmt = (
            select(CustomerAuditEvent)
            .where(CustomerAuditEvent.customer_id == customer_id)
            .order_by(CustomerAuditEvent.seq)
        )
        return list(await session.scalars(stmt))


def test_canonical_json_is_sorted_compact_utf8_with_utc_microseconds() -> None:
    brussels = datetime(2026, 11, 30, 10, 15, tzinfo=UTC).astimezone()
    text_ = canonical_json({"b": 1, "a": {"z": "é", "y": [1, 2]}, "at": brussels})
    assert text_ == '{"a":{"y":[1,2],"z":"é"},"at":"2026-11-30T10:15:00.000000+00:00","b":1}'


async def test_each_customer_has_its_own_chain_linked_by_sha256(db: Database) -> None:
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    for payload in (recorded(ours), recorded(theirs), recorded(ours), recorded(ours)):
        await append(db, payload)

    rows = await trail(db, ours)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert [r.seq for r in await trail(db, theirs)] == [1]
    prev = GENESIS_HASH
    for row in rows:
        assert row.prev_hash == prev
        expected = hashlib.sha256((prev + canonical_json(row.hashed_content())).encode())
        assert row.hash == expected.hexdigest()
        prev = row.hash
    assert rows[0].at == AT and rows[0].recorded_at == AT + timedelta(seconds=2)
    async with db.sessions() as session:
        assert (await audit_trail.verify_trail(session, ours)).checked == 3


async def test_the_same_audit_event_delivered_twice_is_appended_once(db: Database) -> None:
    customer = uuid.uuid4()
    payload = recorded(customer)
    first = await append(db, payload)
    again = await append(db, payload)
    assert again.seq == first.seq == 1
    assert len(await trail(db, customer)) == 1


async def test_sqlite_triggers_refuse_changing_or_deleting_an_entry(db: Database) -> None:
    customer = uuid.uuid4()
    await append(db, recorded(customer))
    for statement in (
        "UPDATE customer_audit_events SET action = 'user.invited'",
        "DELETE FROM customer_audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.transaction() as session:
                await session.execute(text(statement))
    assert len(await trail(db, customer)) == 1


async def _tamper(db: Database, customer: uuid.UUID, seq: int) -> None:
    async with db.transaction() as session:
        await session.execute(text("DROP TRIGGER customer_audit_events_no_update"))
        await session.execute(
            text(
                'UPDATE customer_audit_events SET details = \'{"profile": "access_owner"}\' '
                "WHERE customer_id = :c AND seq = :s"
            ),
            {"c": customer.hex, "s": seq},
        )


async def test_portal_audit_verify_names_the_first_broken_link(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    broken, intact = uuid.uuid4(), uuid.uuid4()
    for _ in range(4):
        await append(db, recorded(broken))
    await append(db, recorded(intact))
    assert await audit_cli.verify(db.url, None) == 0
    capsys.readouterr()
    stored = (await trail(db, broken))[1].hash

    await _tamper(db, broken, 2)

    # The console script runs its own event loop: give it a thread, as a shell would.
    assert await asyncio.to_thread(audit_cli.main, ["verify", "--database-url", db.url]) == 1
    out = capsys.readouterr().out
    assert f"customer {broken}: BROKEN at seq 2: entry content altered" in out
    assert f"found {stored}" in out
    assert f"customer {intact}: ok, 1 entries" in out
    only_intact = ["verify", "--database-url", db.url, "--customer", str(intact)]
    assert await asyncio.to_thread(audit_cli.main, only_intact) == 0
