"""Who owns a billing account or a SIM named in a grant's scope.

Billing owns billing accounts and fleet owns SIMs; delegation asks them (never reads their
tables), after its own projection of fleet's ``sim.changed`` has had its say. A grant may
only name ids of its own customer: otherwise lists filtered by the customer in the URL
would show another customer's data to the grantee.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from servicekit.http import ServiceClient


class ScopeOwners(Protocol):
    async def customer_of_billing_account(self, billing_account_id: UUID) -> UUID | None: ...

    async def customer_of_sim(self, sim_id: UUID) -> UUID | None: ...

    async def close(self) -> None: ...


class HttpScopeOwners:
    def __init__(self, billing: ServiceClient, fleet: ServiceClient) -> None:
        self.billing = billing
        self.fleet = fleet

    async def customer_of_billing_account(self, billing_account_id: UUID) -> UUID | None:
        facts = await self.billing.get_json(f"/v1/billing-accounts/{billing_account_id}")
        return None if facts is None else UUID(str(facts["customer_id"]))

    async def customer_of_sim(self, sim_id: UUID) -> UUID | None:
        facts = await self.fleet.get_json(f"/v1/sims/{sim_id}")
        return None if facts is None else UUID(str(facts["customer_id"]))

    async def close(self) -> None:
        await self.billing.close()
        await self.fleet.close()
