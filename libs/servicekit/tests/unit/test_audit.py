"""servicekit.audit: an audit event is an outbox row of the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from contracts.envelope import CloudEvent
from contracts.events.audit import AuditAction
from servicekit import audit
from servicekit.auth import Principal
from servicekit.db import Database, new_metadata
from servicekit.outbox import Outbox

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/kit.db", new_metadata())
    async with db.engine.begin() as conn:
        await conn.run_sync(db.metadata.create_all)
    return db


async def _rows(db: Database) -> list[CloudEvent]:
    async with db.sessions() as s:
        rows = (await s.execute(select(db.outbox.c.value, db.outbox.c.key))).all()
    return [CloudEvent.from_bytes(r.value) for r in rows]


async def test_recorded_with_the_change_and_rolled_back_with_it(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    outbox = Outbox(db, source="/services/billing")
    customer, user = uuid.uuid4(), uuid.uuid4()
    principal = Principal(subject=str(user), kind="user", customer_id=customer)
    async with db.transaction() as session:
        payload = await audit.record(
            session,
            outbox,
            source="billing",
            customer_id=customer,
            actor=audit.actor_of(principal),
            action=AuditAction.DATA_EXPORTED,
            target={"invoice_id": uuid.uuid4(), "billing_account_id": None},
            details={"format": "csv"},
            occurred_at=AT,
        )
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await audit.record(
                session,
                outbox,
                source="billing",
                customer_id=customer,
                actor=audit.SYSTEM,
                action=AuditAction.DATA_EXPORTED,
                occurred_at=AT,
            )
            raise RuntimeError("the change failed")

    [event] = await _rows(db)
    assert event.type == "audit.recorded" and event.subject == str(payload.audit_id)
    assert event.data["actor"] == {"kind": "user", "id": str(user)}
    assert set(event.data["target"]) == {"invoice_id"}  # absent ids are left out
    async with db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(db.outbox)) == 1
    await db.dispose()


async def test_personal_data_in_details_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    db = await _db(tmp_path)
    outbox = Outbox(db, source="/services/identity")
    with pytest.raises(ValidationError):
        async with db.transaction() as session:
            await audit.record(
                session,
                outbox,
                source="identity",
                customer_id=uuid.uuid4(),
                actor=audit.user_actor(uuid.uuid4()),
                action=AuditAction.USER_INVITED,
                details={"email": "ann@acme.example"},
                occurred_at=AT,
            )
    assert await _rows(db) == []
    await db.dispose()
