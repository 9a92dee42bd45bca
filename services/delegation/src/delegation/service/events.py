"""Use cases driven by other services' events, and the contract-end sweep.

Every one is safe to apply twice (the consumer's inbox de-duplicates, but upserts and
deterministic ids make a replay harmless too) and tolerates events of different topics
arriving in any order (a user's deactivation before its creation, a user before their
customer's registration).
"""

from __future__ import annotations

import logging
import uuid
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import (
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    SimChangedV1,
    UserCreatedV1,
    UserDeactivatedV1,
)
from delegation import repository as repo
from delegation.deps import Deps
from delegation.domain import ACCESS_OWNER, INTERNAL_CONTRACTS
from delegation.models import Assignment, Sim, User
from delegation.service.common import announce, revoke, today, with_group

log = logging.getLogger(__name__)

# Assignment ids derived from the event's facts: a replayed user.created finds its
# assignment already there instead of creating a second one.
_PROFILE_ASSIGNMENT = uuid.UUID("5b0d3c8e-7f4a-4d1e-9c2b-8a6f1e3d7c90")


def profile_assignment_id(user_id: UUID) -> UUID:
    return uuid.uuid5(_PROFILE_ASSIGNMENT, f"user.created:{user_id}")


async def customer_registered(
    session: AsyncSession, deps: Deps, payload: CustomerRegisteredV1
) -> None:
    customer = await repo.ensure_customer(session, payload.customer_id)
    customer.enterprise_number = payload.enterprise_number
    customer.company_name = payload.company_name
    customer.wants_access_owner = payload.wants_access_owner
    customer.registered_at = payload.accepted_at
    customer.updated_at = deps.now()
    # [9.1] Listed numbers are kept for the record; only the affiliates operator staff
    # confirmed at acceptance are linked. A company registering later under a listed
    # number falls under nobody's access owner by itself.
    await repo.replace_affiliates(session, payload.customer_id, payload.affiliates)
    await repo.replace_affiliate_links(
        session, payload.customer_id, payload.confirmed_affiliates, payload.accepted_at
    )


async def user_created(session: AsyncSession, deps: Deps, payload: UserCreatedV1) -> None:
    user = await repo.get_user(session, payload.user_id)
    if user is None:
        user = User(user_id=payload.user_id, customer_id=payload.customer_id, status="active")
        session.add(user)
    user.customer_id = payload.customer_id
    user.profile = payload.profile
    user.contract_kind = payload.contract.kind
    user.contract_ends_on = payload.contract.ends_on
    user.created_at = payload.created_at
    user.updated_at = deps.now()
    customer = await repo.ensure_customer(session, payload.customer_id)
    await session.flush()

    assignment_id = profile_assignment_id(payload.user_id)
    if await repo.get_assignment(session, assignment_id) is not None:
        return
    ends_on = payload.contract.ends_on
    if (
        user.status != "active"
        or customer.status == "terminated"
        or payload.contract.kind not in INTERNAL_CONTRACTS
        or (ends_on is not None and ends_on < today(deps))
    ):
        # [9.2] Recorded, but no profile rights: someone outside the organization gets
        # rights only through an approved third-party delegation.
        log.info("user recorded without profile assignment", extra={"user_id": str(user.user_id)})
        return
    if not await _inviter_may_appoint(session, deps, payload):
        log.warning(
            "user.created refused: its inviter may not appoint an access owner",
            extra={"user_id": str(user.user_id), "invited_by": str(payload.invited_by)},
        )
        return
    changed_by = str(payload.invited_by) if payload.invited_by else None
    row = Assignment(
        assignment_id=assignment_id,
        customer_id=payload.customer_id,
        user_id=payload.user_id,
        profile=payload.profile,
        subprofiles=sorted(set(payload.subprofiles)),
        scope_applications=None,
        scope_billing_accounts=None,
        scope_sims=None,
        # An invited portal user starts with no application or data rights: the profile
        # assignment carries no permissions until someone grants them.
        permissions=[],
        third_party=False,
        status="active",
        source="user.created",
        granted_by=changed_by,
        granted_at=deps.now(),
    )
    session.add(row)
    await session.flush()
    await announce(session, deps, row, "granted", changed_by)


async def _inviter_may_appoint(session: AsyncSession, deps: Deps, payload: UserCreatedV1) -> bool:
    """A ``user.created`` confers its profile only if its inviter could give it: an access
    owner is appointed by an access owner of the customer (directly or through its group
    [9.1]) as delegation knows them now, never on identity's word about the inviter.
    No inviter: the registrant, or operator staff."""
    if payload.profile != ACCESS_OWNER or payload.invited_by is None:
        return True
    inviter = await repo.person(session, payload.invited_by)
    if inviter is None:
        return False
    inviter = await with_group(session, inviter, {payload.customer_id})
    return inviter.can_hold_rights(today(deps)) and inviter.is_owner_of(payload.customer_id)


async def user_deactivated(session: AsyncSession, deps: Deps, payload: UserDeactivatedV1) -> None:
    user = await repo.get_user(session, payload.user_id)
    if user is None:
        user = User(user_id=payload.user_id, customer_id=payload.customer_id)
        session.add(user)
    user.status = "deactivated"
    user.deactivated_at = payload.deactivated_at
    user.updated_at = deps.now()
    await session.flush()
    for row in await repo.active_assignments(session, user_id=payload.user_id):
        await revoke(session, deps, row, reason="user_deactivated", by=None)
    for pending in await repo.pending_third_party(session, grantee=payload.user_id):
        pending.status = "cancelled"
        pending.decided_at = deps.now()
        pending.decision_reason = "user_deactivated"


async def customer_terminated(
    session: AsyncSession, deps: Deps, payload: CustomerTerminatedV1
) -> None:
    customer = await repo.ensure_customer(session, payload.customer_id)
    customer.status = "terminated"
    customer.terminated_at = payload.terminated_at
    customer.updated_at = deps.now()
    await session.flush()
    rows = {
        row.assignment_id: row
        for row in [
            *await repo.active_assignments(session, customer_id=payload.customer_id),
            # Its people lose what they held elsewhere (third-party delegations).
            *await repo.active_assignments(session, held_by_customer=payload.customer_id),
        ]
    }
    for row in rows.values():
        await revoke(session, deps, row, reason="customer_terminated", by=None)
    for pending in await repo.pending_third_party(session, customer_id=payload.customer_id):
        pending.status = "cancelled"
        pending.decided_at = deps.now()
        pending.decision_reason = "customer_terminated"


async def sim_changed(session: AsyncSession, payload: SimChangedV1) -> None:
    row = await repo.get_sim(session, payload.sim_id)
    if row is not None and row.changed_at > payload.changed_at:
        return  # an older state arriving late
    if row is None:
        row = Sim(sim_id=payload.sim_id)
        session.add(row)
    row.customer_id = payload.customer_id
    row.billing_account_id = payload.billing_account_id
    row.end_user_id = payload.end_user_id
    row.status = "deactivated" if payload.change == "deactivated" else "active"
    row.changed_at = payload.changed_at
    await session.flush()


async def sweep_ended_contracts(session: AsyncSession, deps: Deps) -> int:
    """[9.2] Revoke the assignments of people whose contract ended (decisions already
    deny them; this makes it visible and tells other services)."""
    revoked = 0
    for user_id in await repo.users_with_ended_contracts(session, today(deps)):
        for row in await repo.active_assignments(session, user_id=user_id):
            revoked += await revoke(session, deps, row, reason="contract_ended", by=None)
    if revoked:
        log.info("revoked assignments of ended contracts", extra={"count": revoked})
    return revoked
