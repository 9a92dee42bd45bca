"""Who may do what on fleet's routes, declared in the routes' signatures.

Each dependency loads the object (404 if absent) and asks delegation's ``require``, the
portal's one 404/403 rule: an object the caller may not even read answers 404 (its
existence is not revealed); one they may read but not change answers 403.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.actions import Action
from contracts.scopes import ServiceScope
from fleet.deps import Deps, DepsDep
from fleet.models import Sim
from fleet.service import sims
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, OperatorPrincipal, Principal, principal_or_service
from servicekit.delegation_client import Resource, Visible
from servicekit.problems import NotFound

READ = Action.SIM_READ


def sim_resource(sim: Sim) -> Resource:
    return Resource(
        "sim",
        sim.id,
        sim.customer_id,
        billing_account_id=sim.billing_account_id,
        sim_id=sim.id,
    )


def customer_resource(customer_id: UUID) -> Resource:
    return Resource("customer", customer_id, customer_id)


async def _sim_for(
    session: AsyncSession, deps: Deps, principal: Principal, sim_id: UUID, *actions: Action
) -> Sim:
    """The SIM, if the caller may do one of ``actions`` on it."""
    sim = await sims.get_sim(session, sim_id)
    await deps.delegation.require(principal, sim_resource(sim), *actions, visible_with=READ)
    return sim


# Delegation reads a SIM's customer with its service token (a grant's scope check).
SimFactsReader = Annotated[Principal, Depends(principal_or_service(ServiceScope.SIM_READ))]


async def readable_sim(
    sim_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Sim:
    return await _sim_for(session, deps, principal, sim_id, READ)


async def sim_with_facts(
    sim_id: UUID, principal: SimFactsReader, session: SessionDep, deps: DepsDep
) -> Sim:
    """One SIM: for its readers, and for delegation's service token with the scope."""
    return await _sim_for(session, deps, principal, sim_id, READ)


async def usage_readable_sim(
    sim_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Sim:
    return await _sim_for(session, deps, principal, sim_id, READ, Action.USAGE_READ)


async def device_readable_sim(
    sim_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Sim:
    return await _sim_for(session, deps, principal, sim_id, Action.DEVICE_READ)


async def manageable_sim(
    sim_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Sim:
    return await _sim_for(session, deps, principal, sim_id, Action.SIM_MANAGE)


async def orderable_sim(
    sim_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Sim:
    """A subscription change (plan, options) is an order: it needs ``product.order`` (the
    order right or the purchaser sub-profile); managing the SIM alone is not enough."""
    return await _sim_for(session, deps, principal, sim_id, Action.PRODUCT_ORDER)


async def operator_sim(sim_id: UUID, principal: OperatorPrincipal, session: SessionDep) -> Sim:
    """Any SIM, for operator staff only (the principal is checked before the lookup)."""
    return await sims.get_sim(session, sim_id)


async def fleet_manager_reader(
    customer_id: UUID, principal: CurrentPrincipal, deps: DepsDep
) -> UUID:
    """The customer, if the caller may see its fleet-manager application."""
    await deps.delegation.require(
        principal,
        customer_resource(customer_id),
        Action.FLEET_MANAGER_ACTIVATE,
        READ,
        visible_with=READ,
    )
    return customer_id


async def fleet_manager_activator(
    customer_id: UUID, principal: CurrentPrincipal, deps: DepsDep
) -> UUID:
    """The customer, if the caller may activate its fleet-manager application."""
    await deps.delegation.require(
        principal, customer_resource(customer_id), Action.FLEET_MANAGER_ACTIVATE, visible_with=READ
    )
    return customer_id


async def visible_sims(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Visible | None:
    """What the caller may see in a customer's SIM list; None for operator staff: all.
    Another customer's list the caller may see nothing of is a 404 (as for one of its
    SIMs), never an empty page; the customer's own users know it exists."""
    if principal.is_operator or principal.is_service:
        return None
    visible = await deps.delegation.visible(principal.subject, "sim", READ)
    if principal.customer_id == customer_id or str(customer_id) in visible.customer_ids:
        return visible
    if not await sims.any_of_customer(session, customer_id, {UUID(i) for i in visible.ids}):
        raise NotFound("No such customer")
    return visible


ReadableSim = Annotated[Sim, Depends(readable_sim)]
SimWithFacts = Annotated[Sim, Depends(sim_with_facts)]
UsageReadableSim = Annotated[Sim, Depends(usage_readable_sim)]
DeviceReadableSim = Annotated[Sim, Depends(device_readable_sim)]
ManageableSim = Annotated[Sim, Depends(manageable_sim)]
OrderableSim = Annotated[Sim, Depends(orderable_sim)]
OperatorSim = Annotated[Sim, Depends(operator_sim)]
FleetManagerReader = Annotated[UUID, Depends(fleet_manager_reader)]
FleetManagerActivator = Annotated[UUID, Depends(fleet_manager_activator)]
VisibleSims = Annotated[Visible | None, Depends(visible_sims)]
