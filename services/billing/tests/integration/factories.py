"""Test data with random suffixes, so tests never collide in a shared database or topic."""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Any

from billing.models import Sim
from servicekit.db import Database


def record_id(prefix: str = "cdr") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def msisdn() -> str:
    return f"+32470{random.randrange(10**6):06d}"


def usage_record(
    account: str,
    kind: str,
    destination: str,
    started: datetime,
    *,
    line: str = "+32470000001",
    **quantity: int,
) -> dict[str, Any]:
    """A CDR as POST /v1/operator/usage takes it; ``quantity`` is duration_s,
    volume_bytes or count."""
    return {
        "record_id": record_id(),
        "billing_account_id": account,
        "line": line,
        "kind": kind,
        "destination": destination,
        "started_at": started.isoformat(),
        **quantity,
    }


async def create_account(
    client: Any,
    operator: dict[str, str],
    *,
    customer: uuid.UUID | None = None,
    kind: str = "mobile",
    name: str | None = None,
) -> str:
    r = await client.post(
        "/v1/operator/billing-accounts",
        json={
            "customer_id": str(customer or uuid.uuid4()),
            "kind": kind,
            "name": name or f"Account {uuid.uuid4().hex[:6]}",
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["billing_account_id"])


async def post_usage(client: Any, operator: dict[str, str], records: list[dict[str, Any]]) -> Any:
    return await client.post("/v1/operator/usage", json={"records": records}, headers=operator)


async def add_sim(
    db: Database,
    *,
    account: str,
    since: datetime,
    customer: uuid.UUID | None = None,
    line: str | None = None,
    tariff_plan: str = "SMART_S",
    monthly_fee: Any = None,
) -> Sim:
    """An active SIM on the account, as fleet's sim.changed would have projected it."""
    sim = Sim(
        sim_id=uuid.uuid4(),
        customer_id=customer or uuid.uuid4(),
        billing_account_id=uuid.UUID(account),
        msisdn=line or msisdn(),
        tariff_plan=tariff_plan,
        options=[],
        monthly_fee=monthly_fee,
        status="active",
        active_since=since,
        changed_at=since,
    )
    async with db.transaction() as s:
        s.add(sim)
    return sim
