"""Test data for fleet: valid, random identifiers, so tests sharing one database never
collide, and the events other services send."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from stdnum import luhn

from contracts.events.billing import RatedUsageV2, UsageRatedV1, UsageRatedV2
from contracts.events.identity import CustomerTerminatedV1
from fleet.domain.rules import current_period


def new_id() -> str:
    """A customer, user or other id nobody else uses."""
    return str(uuid.uuid4())


def random_iccid() -> str:
    body = "8932" + "".join(random.choices("0123456789", k=14))
    return body + luhn.calc_check_digit(body)


def random_msisdn() -> str:
    return "+324" + "".join(random.choices("0123456789", k=8))


def random_imsi() -> str:
    return "20601" + "".join(random.choices("0123456789", k=10))


def sim_body(customer_id: str, **overrides: Any) -> dict[str, Any]:
    """A provisioning request for a new SIM of the customer."""
    body = {
        "customer_id": customer_id,
        "billing_account_id": new_id(),
        "iccid": random_iccid(),
        "msisdn": random_msisdn(),
        "imsi": random_imsi(),
        "tariff_plan": "SMART_M",
    }
    body.update(overrides)
    return body


def usage_rated(
    sim: dict[str, Any], kind: str, quantity: int, amount: str, record_id: str | None = None
) -> UsageRatedV1:
    """Billing's rated usage of the SIM's line, now."""
    now = datetime.now(UTC)
    return UsageRatedV1(
        record_id=record_id or f"cdr-{uuid.uuid4().hex}",
        customer_id=sim["customer_id"],
        billing_account_id=sim["billing_account_id"],
        line=sim["msisdn"],
        kind=kind,
        started_at=now,
        quantity=quantity,
        amount=Decimal(amount),
        period=current_period(now),
    )


def usage_rated_batch(*records: UsageRatedV1) -> UsageRatedV2:
    """Billing's rated usage as it publishes it now: the records in one v2 batch."""
    return UsageRatedV2(
        batch_id=uuid.uuid4(), records=[RatedUsageV2(**r.model_dump()) for r in records]
    )


def customer_terminated(customer_id: str) -> CustomerTerminatedV1:
    """Identity's notice that the customer's agreement ended today."""
    return CustomerTerminatedV1(
        customer_id=customer_id,
        by="customer",
        effective_on=date.today(),
        terminated_at=datetime.now(UTC),
    )
