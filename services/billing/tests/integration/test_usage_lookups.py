"""The look-ups of usage ingestion: one array parameter on PostgreSQL, IN lists on
SQLite; the same answers on both."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from billing.models import Base, BillingAccount, Sim
from billing.repository import accounts as repo
from servicekit.db import Database
from servicekit.testing import drop_database, fresh_database_url


@pytest.mark.parametrize("database", ["default", "sqlite"])
async def test_customers_of_accounts_and_active_sims_by_line(database: str, tmp_path) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/billing.db"
        if database == "sqlite"
        else await fresh_database_url("billing_lookups")
    )
    db = Database(url, Base.metadata)
    now = datetime.now(UTC)
    accounts = {uuid.uuid4(): uuid.uuid4() for _ in range(3)}  # account -> customer
    active, other_active = uuid.uuid4(), uuid.uuid4()

    def sim(sim_id: uuid.UUID, msisdn: str, status: str) -> Sim:
        account = next(iter(accounts))
        return Sim(
            sim_id=sim_id,
            customer_id=accounts[account],
            billing_account_id=account,
            msisdn=msisdn,
            tariff_plan="SMART_S",
            options=[],
            status=status,
            active_since=now,
            changed_at=now,
        )

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with db.transaction() as s:
            for i, (account, customer) in enumerate(accounts.items()):
                status = "terminated" if i == 2 else "active"  # still an account
                s.add(
                    BillingAccount(
                        id=account, customer_id=customer, kind="mobile", name="a", status=status
                    )
                )
            s.add(sim(active, "+32470000001", "active"))
            s.add(sim(uuid.uuid4(), "+32470000002", "deactivated"))
            s.add(sim(other_active, "+32470000003", "active"))
        async with db.sessions() as s:
            unknown = uuid.uuid4()
            asked = [*accounts, unknown, next(iter(accounts))]  # a repeat too
            assert await repo.customers_of_accounts(s, asked) == accounts
            assert await repo.customers_of_accounts(s, []) == {}
            lines = {"+32470000001", "+32470000002", "+32470000003", "+32470009999"}
            assert await repo.sim_ids_by_msisdn(s, lines) == {
                "+32470000001": active,
                "+32470000003": other_active,
            }
            assert await repo.sim_ids_by_msisdn(s, set()) == {}
    finally:
        await db.dispose()
        await drop_database(url)
