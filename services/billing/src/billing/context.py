"""What the use cases need besides a session: the kit (outbox), settings, rules, clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from billing.domain.rating import ExclusionRules
from billing.settings import BillingSettings
from servicekit.app import ServiceKit


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Billing:
    kit: ServiceKit
    settings: BillingSettings
    rules: ExclusionRules
    clock: Callable[[], datetime] = _now
    # Names this process as the holder of billing-run leases.
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def now(self) -> datetime:
        return self.clock()


def get_billing(request: Request) -> Billing:
    billing: Billing = request.app.state.billing
    return billing


BillingDep = Annotated[Billing, Depends(get_billing)]
