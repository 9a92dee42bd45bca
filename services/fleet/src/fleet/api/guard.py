"""Rights checks of the fleet routes, asked of delegation.

An object the caller may not even read answers 404 (its existence is not revealed);
one they may read but not change answers 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.actions import Action
from fleet.deps import Deps
from fleet.models import Sim
from fleet.service import sims
from servicekit.auth import Principal
from servicekit.delegation_client import Resource

READ = Action.SIM_READ
MANAGE = Action.SIM_MANAGE
ORDER = Action.PRODUCT_ORDER
DEVICE_READ = Action.DEVICE_READ
USAGE_READ = Action.USAGE_READ
FLEET_MANAGER = Action.FLEET_MANAGER_ACTIVATE


def sim_resource(sim: Sim) -> Resource:
    return Resource(
        "sim",
        sim.id,
        sim.customer_id,
        billing_account_id=sim.billing_account_id,
        sim_id=sim.id,
    )


def customer_resource(customer_id: uuid.UUID) -> Resource:
    return Resource("customer", customer_id, customer_id)


async def require_any(
    deps: Deps,
    principal: Principal,
    resource: Resource,
    actions: Sequence[Action],
    *,
    visible_with: Action = READ,
) -> None:
    """Pass if any of ``actions`` is allowed; else 403 if ``visible_with`` is, else 404."""
    await deps.delegation.require(principal, resource, *actions, visible_with=visible_with)


async def sim_for(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    sim_id: uuid.UUID,
    *actions: Action,
) -> Sim:
    """The SIM, if the caller may do one of ``actions`` on it."""
    sim = await sims.get_sim(session, sim_id)
    await require_any(deps, principal, sim_resource(sim), actions)
    return sim
