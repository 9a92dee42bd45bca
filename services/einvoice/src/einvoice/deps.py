"""What the use cases need, wired once in ``main.py``: settings, the outbox, the delegation
client, the clock and this service's own ports (billing, the bank). Never the whole kit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from einvoice.bank import BankAdapter
from einvoice.billing_client import BillingClient
from einvoice.peppol import AccessPoint
from einvoice.settings import EinvoiceSettings
from servicekit.app import deps_dependency
from servicekit.db import utcnow
from servicekit.delegation_client import Delegation
from servicekit.outbox import Outbox


@dataclass(frozen=True)
class Deps:
    settings: EinvoiceSettings
    outbox: Outbox
    delegation: Delegation
    billing: BillingClient
    bank: BankAdapter
    access_point: AccessPoint
    now: Callable[[], datetime] = utcnow


DepsDep = Annotated[Deps, Depends(deps_dependency(Deps))]
