"""usage.rated as billing writes it (ADR 35): the records stored by one ingestion, at most
MAX_RATED_PER_EVENT an event, each record in exactly one event; PostgreSQL and SQLite."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from billing.deps import Deps
from billing.domain.rating import ExclusionRules
from billing.models import Base, BillingAccount
from billing.service import usage
from billing.service.catalogue import publish_catalogue
from billing.settings import BillingSettings
from contracts.events.billing import MAX_RATED_PER_EVENT, UsageRecordV1
from servicekit.db import Database
from servicekit.outbox import Outbox
from servicekit.testing import FakeDelegation, drop_database, fresh_database_url


def _record(account: uuid.UUID, i: int, destination: str = "+32475123456") -> UsageRecordV1:
    return UsageRecordV1(
        record_id=f"cdr-batch-{i}",
        billing_account_id=account,
        line="+32470123456",
        kind="sms",
        destination=destination,
        started_at=datetime.now(UTC) - timedelta(days=1),
        count=1,
    )


@pytest.mark.parametrize("database", ["default", "sqlite"])
async def test_stored_records_are_published_in_batches_each_once(database: str, tmp_path) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/billing.db"
        if database == "sqlite"
        else await fresh_database_url("billing_rated_batches")
    )
    db = Database(url, Base.metadata)
    deps = Deps(
        settings=BillingSettings(database_url=url),
        outbox=Outbox(db, source="/services/billing"),
        delegation=FakeDelegation(),
        rules=ExclusionRules(),
    )
    account, customer = uuid.uuid4(), uuid.uuid4()
    n = 2 * MAX_RATED_PER_EVENT + 500
    records = [_record(account, i) for i in range(n)]
    emergency = _record(account, n, destination="112")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with db.transaction() as s:
            s.add(
                BillingAccount(
                    id=account, customer_id=customer, kind="mobile", name="a", status="active"
                )
            )
            await publish_catalogue(s, deps)
        async with db.transaction() as s:
            first = await usage.ingest(s, deps, [*records[:10], *records[:10]])  # repeats
        async with db.transaction() as s:
            rest = await usage.ingest(s, deps, [*records, emergency])
        assert (first.accepted, first.duplicates) == (10, 10)
        assert (rest.accepted, rest.duplicates, rest.excluded) == (n - 10 + 1, 10, 1)

        async with db.sessions() as s:
            rows = (
                await s.execute(
                    select(db.outbox.c.key, db.outbox.c.value)
                    .where(db.outbox.c.topic == "usage.rated")
                    .order_by(db.outbox.c.seq)
                )
            ).all()
        events = [json.loads(row.value) for row in rows]
        assert [len(e["data"]["records"]) for e in events] == [10, 1000, 1000, 490]
        assert all(e["dataschema"] == "urn:portal:events:usage.rated:v2" for e in events)
        assert [row.key for row in rows] == [e["data"]["batch_id"] for e in events]
        published = [r["record_id"] for e in events for r in e["data"]["records"]]
        assert published == [r.record_id for r in records]  # each once, none excluded
        assert {r["customer_id"] for e in events for r in e["data"]["records"]} == {str(customer)}
    finally:
        await db.dispose()
        await drop_database(url)
