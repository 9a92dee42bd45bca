"""Billing accounts and the projections of other services' events."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.models import BillingAccount, Sim
from billing.repository import accounts as repo
from billing.service.access import visible_account
from contracts.actions import Action
from contracts.events.fleet import SimChangedV1
from contracts.events.identity import CustomerTerminatedV1
from servicekit.auth import Principal
from servicekit.delegation_client import Resource
from servicekit.pagination import decode_cursor, page
from servicekit.problems import Problem

log = logging.getLogger(__name__)


def account_view(a: BillingAccount) -> dict[str, Any]:
    return {
        "billing_account_id": str(a.id),
        "customer_id": str(a.customer_id),
        "kind": a.kind,
        "name": a.name,
        "status": a.status,
        "created_at": a.created_at,
    }


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


async def get_account(
    session: AsyncSession, deps: Deps, principal: Principal, account_id: uuid.UUID
) -> dict[str, Any]:
    account = await visible_account(session, deps, principal, account_id, Action.INVOICE_READ)
    return account_view(account)


async def list_accounts(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    customer_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    only_ids: set[str] | None = None
    if principal.kind == "user":
        only_ids = await _visible_account_ids(deps, principal, customer_id)
    position = decode_cursor(cursor)
    rows = await repo.list_accounts(
        session,
        customer_id,
        only_ids=only_ids,
        active_only=principal.kind == "user",
        after=str(position["i"]) if position else None,
        limit=limit,
    )
    return page([account_view(a) for a in rows], limit, lambda a: {"i": a["billing_account_id"]})


async def _visible_account_ids(
    deps: Deps, principal: Principal, customer_id: uuid.UUID
) -> set[str] | None:
    """None = all of the customer's accounts; else the ids the user may read invoices of.

    Administrators (who grant rights per billing account) see the whole list even when
    they may not read the invoices themselves (an access manager, SPEC 8.4)."""
    visible = await deps.delegation.visible(
        principal.subject, "billing_account", Action.INVOICE_READ
    )
    if str(customer_id) in visible.customer_ids:
        return None
    try:
        admin = await deps.delegation.check(
            principal.subject, Action.ROLE_GRANT, Resource("customer", customer_id, customer_id)
        )
    except Problem:
        # Only widens the list; without an answer the user sees what they may read.
        log.warning("role.grant check failed; listing readable billing accounts only")
        return set(visible.ids)
    return None if admin.allowed else set(visible.ids)


async def terminate_customer(session: AsyncSession, e: CustomerTerminatedV1) -> None:
    count = await repo.terminate_customer_accounts(session, e.customer_id, e.terminated_at)
    log.info("customer terminated: %d billing accounts closed", count)


async def apply_sim_change(session: AsyncSession, e: SimChangedV1) -> None:
    """Keep the SIM projection; older events (out of order) never overwrite newer state."""
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
