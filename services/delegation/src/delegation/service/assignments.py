"""Granting, revoking and listing assignments (``/v1/customers/{id}/assignments``)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from delegation import repository as repo
from delegation.deps import Deps
from delegation.domain import (
    ACCESS_OWNER,
    GrantRequest,
    HeldAssignment,
    check_grant,
    check_revoke,
)
from delegation.models import Assignment
from delegation.service.common import Administrator, announce, raise_for, revoke, today
from servicekit.pagination import Page
from servicekit.problems import ValidationFailed


def _ids(values: frozenset[UUID] | None) -> list[str] | None:
    return None if values is None else sorted(str(v) for v in values)


async def _scope_of_this_customer(
    session: AsyncSession, deps: Deps, customer_id: UUID, request: GrantRequest
) -> None:
    """Every billing account and SIM a scope names must be the grant's customer's: 422
    otherwise, naming each id that is not (unknown and another customer's alike, so the
    answer reveals nothing about other customers)."""
    errors: list[dict[str, str]] = []
    accounts = sorted(request.scope.billing_accounts or ())
    for i, owner in enumerate(
        await asyncio.gather(*(deps.owners.customer_of_billing_account(a) for a in accounts))
    ):
        if owner != customer_id:
            errors.append(
                {
                    "field": f"scope.billing_accounts.{i}",
                    "message": f"{accounts[i]} is not a billing account of this customer",
                }
            )
    sims = sorted(request.scope.sims or ())
    for i, sim_id in enumerate(sims):
        known = await repo.get_sim(session, sim_id)  # fleet's sim.changed, projected here
        owner = (
            known.customer_id if known is not None else await deps.owners.customer_of_sim(sim_id)
        )
        if owner != customer_id:
            errors.append(
                {"field": f"scope.sims.{i}", "message": f"{sim_id} is not a SIM of this customer"}
            )
    if errors:
        raise ValidationFailed("The scope names ids of another customer", errors=errors)


async def grant(
    session: AsyncSession, deps: Deps, admin: Administrator, request: GrantRequest
) -> Assignment:
    customer_id = request.customer_id
    grantee = await repo.person(session, request.user_id)
    customer = await repo.get_customer(session, customer_id)
    in_group = False
    if grantee is not None and grantee.customer_id != customer_id:
        # [9.1] The access owner of a group may give rights on an affiliate to the
        # parent's people.
        in_group = bool(await repo.group_links(session, [grantee.customer_id], [customer_id]))
    raise_for(
        check_grant(
            admin.actor,
            grantee,
            request,
            today=today(deps),
            customer_terminated=customer is not None and customer.status == "terminated",
            grantee_in_group=in_group,
        )
    )
    await _scope_of_this_customer(session, deps, customer_id, request)
    by = admin.by
    row = Assignment(
        assignment_id=repo.new_id(),
        customer_id=customer_id,
        user_id=request.user_id,
        profile=request.profile,
        subprofiles=sorted(request.subprofiles),
        scope_applications=None
        if request.scope.applications is None
        else sorted(request.scope.applications),
        scope_billing_accounts=_ids(request.scope.billing_accounts),
        scope_sims=_ids(request.scope.sims),
        permissions=sorted(request.permissions),
        third_party=False,
        status=repo.ACTIVE,
        source="api",
        granted_by=by,
        granted_at=deps.now(),
    )
    session.add(row)
    await session.flush()
    await announce(session, deps, row, "granted", by, actor=admin.audit_actor)
    return row


async def revoke_one(
    session: AsyncSession, deps: Deps, admin: Administrator, row: Assignment
) -> Assignment:
    if row.status != repo.ACTIVE:
        return row  # revoking twice changes nothing
    others = 0
    if row.profile == ACCESS_OWNER:
        others = await repo.count_active_owners(session, row.customer_id, besides=row.assignment_id)
    held = HeldAssignment(row.customer_id, row.user_id, row.profile, row.third_party)
    raise_for(check_revoke(admin.actor, held, today=today(deps), other_owners=others))
    await revoke(session, deps, row, reason="revoked", by=admin.by, actor=admin.audit_actor)
    return row


async def list_page(
    session: AsyncSession,
    customer_id: UUID,
    *,
    limit: int,
    cursor: str | None,
    user_id: UUID | None,
    include_revoked: bool,
) -> Page[Assignment]:
    return await repo.page_assignments(
        session,
        customer_id,
        limit=limit,
        cursor=cursor,
        user_id=user_id,
        include_revoked=include_revoked,
    )
