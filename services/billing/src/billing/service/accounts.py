"""Billing accounts and the projections of other services' events."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.models import BillingAccount, Sim, SimHistory
from billing.repository import accounts as repo
from billing.repository import catalogue as catalogue_repo
from billing.schemas import AccountOut
from contracts.events.fleet import SimChangedV1
from contracts.events.identity import CustomerTerminatedV1
from servicekit.pagination import Page

log = logging.getLogger(__name__)


async def create_account(
    session: AsyncSession, deps: Deps, *, customer_id: uuid.UUID, kind: str, name: str
) -> BillingAccount:
    account = BillingAccount(
        id=uuid.uuid4(),
        customer_id=customer_id,
        kind=kind,
        name=name,
        status="active",
        created_at=deps.now(),
    )
    await repo.add_account(session, account)
    return account


async def list_accounts(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    only_ids: frozenset[uuid.UUID] | None,
    active_only: bool,
    cursor: str | None,
    limit: int,
) -> Page[AccountOut]:
    """The customer's accounts; ``only_ids`` (None = all) is what the caller may see."""
    found = await repo.page_accounts(
        session, customer_id, only_ids=only_ids, active_only=active_only, cursor=cursor, limit=limit
    )
    return Page[AccountOut](
        items=[AccountOut.of(a) for a in found.items], next_cursor=found.next_cursor
    )


async def terminate_customer(session: AsyncSession, e: CustomerTerminatedV1) -> None:
    count = await repo.terminate_customer_accounts(session, e.customer_id, e.terminated_at)
    log.info("customer terminated: %d billing accounts closed", count)


async def apply_sim_change(session: AsyncSession, e: SimChangedV1) -> None:
    """Keep the SIM projection; older events (out of order) never overwrite newer state.
    Every change also goes to the SIM's history (in any order: it is read by time), from
    which invoices prorate fees and take the allowances of the moment."""
    await catalogue_repo.add_sim_state(
        session,
        SimHistory(
            sim_id=e.sim_id,
            change=e.change,
            active=e.change != "deactivated",
            tariff_plan=e.tariff_plan,
            options=sorted(e.options),
            changed_at=e.changed_at,
        ),
    )
    sim = await repo.get_sim(session, e.sim_id)
    if sim is None:
        sim = Sim(sim_id=e.sim_id, active_since=e.changed_at, changed_at=e.changed_at)
        _copy(sim, e)
        await repo.add_sim(session, sim)
        return
    if e.changed_at < sim.changed_at:
        log.info("ignoring an out-of-order sim.changed")
        return
    _copy(sim, e)
    sim.changed_at = e.changed_at
    await session.flush()


def _copy(sim: Sim, e: SimChangedV1) -> None:
    sim.customer_id = e.customer_id
    sim.billing_account_id = e.billing_account_id
    sim.msisdn = e.msisdn
    sim.tariff_plan = e.tariff_plan
    sim.options = list(e.options)
    sim.monthly_fee = e.monthly_fee
    if e.change == "deactivated":
        sim.status = "deactivated"
        sim.deactivated_at = e.changed_at
    elif sim.status != "active":
        sim.status = "active"
        sim.deactivated_at = None
        sim.active_since = e.changed_at
    else:
        sim.status = "active"
