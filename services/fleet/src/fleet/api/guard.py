"""Rights checks of the fleet routes, asked of delegation.

An object the caller may not even read answers 404 (its existence is not revealed);
one they may read but not change answers 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from fleet.models import Sim
from fleet.service import sims
from servicekit.app import ServiceKit
from servicekit.auth import Principal
from servicekit.delegation_client import Resource
from servicekit.problems import Forbidden, NotFound

READ = "sim.read"
MANAGE = "sim.manage"
ORDER = "product.order"
DEVICE_READ = "device.read"
USAGE_READ = "usage.read"
FLEET_MANAGER = "fleet_manager.activate"


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
    kit: ServiceKit,
    principal: Principal,
    resource: Resource,
    actions: Sequence[str],
    *,
    visible_with: str = READ,
) -> None:
    """Pass if any of ``actions`` is allowed; else 403 if ``visible_with`` is, else 404."""
    if principal.is_operator or principal.is_service:
        return
    for action in actions:
        if (await kit.delegation.check(principal.subject, action, resource)).allowed:
            return
    if visible_with not in actions and (
        (await kit.delegation.check(principal.subject, visible_with, resource)).allowed
    ):
        raise Forbidden(f"Not allowed to {' or '.join(actions)} on this {resource.type}")
    raise NotFound(f"No such {resource.type.replace('_', ' ')}")


async def sim_for(
    session: AsyncSession,
    kit: ServiceKit,
    principal: Principal,
    sim_id: uuid.UUID,
    *actions: str,
) -> Sim:
    """The SIM, if the caller may do one of ``actions`` on it."""
    sim = await sims.get_sim(session, sim_id)
    await require_any(kit, principal, sim_resource(sim), actions)
    return sim
