"""Every query of the service. Readers return the domain's plain values."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from delegation.domain import Grant, Person, Scope, SimFacts
from delegation.models import (
    Affiliate,
    AffiliateLink,
    Assignment,
    Customer,
    Sim,
    ThirdPartyDelegation,
    User,
)
from servicekit.pagination import Keyset, Page

ACTIVE = "active"


# -- conversions -----------------------------------------------------------------------


def _uuids(values: Iterable[Any] | None) -> frozenset[UUID] | None:
    return None if values is None else frozenset(UUID(str(v)) for v in values)


def scope_of(row: Assignment | ThirdPartyDelegation) -> Scope:
    return Scope(
        applications=None if row.scope_applications is None else frozenset(row.scope_applications),
        billing_accounts=_uuids(row.scope_billing_accounts),
        sims=_uuids(row.scope_sims),
    )


def grant_of(row: Assignment) -> Grant:
    return Grant(
        customer_id=row.customer_id,
        profile=row.profile,
        subprofiles=frozenset(row.subprofiles or ()),
        scope=scope_of(row),
        permissions=frozenset(row.permissions or ()),
        third_party=row.third_party,
        assignment_id=row.assignment_id,
    )


def person_of(user: User, grants: Iterable[Grant]) -> Person:
    return Person(
        user_id=user.user_id,
        customer_id=user.customer_id,
        active=user.status == ACTIVE,
        contract_kind=user.contract_kind,
        contract_ends_on=user.contract_ends_on,
        grants=tuple(grants),
    )


def sim_of(row: Sim) -> SimFacts:
    return SimFacts(
        sim_id=row.sim_id,
        customer_id=row.customer_id,
        billing_account_id=row.billing_account_id,
        end_user_id=row.end_user_id,
        active=row.status == ACTIVE,
    )


# -- customers ---------------------------------------------------------------------------


async def get_customer(session: AsyncSession, customer_id: UUID) -> Customer | None:
    return await session.get(Customer, customer_id)


async def ensure_customer(session: AsyncSession, customer_id: UUID) -> Customer:
    """The customer's row, created as a placeholder if its registration is not known yet
    (events of different topics arrive in any order)."""
    row = await session.get(Customer, customer_id)
    if row is None:
        row = Customer(customer_id=customer_id, status=ACTIVE)
        session.add(row)
        await session.flush()
    return row


async def replace_affiliates(
    session: AsyncSession, customer_id: UUID, enterprise_numbers: Iterable[str]
) -> None:
    await session.execute(delete(Affiliate).where(Affiliate.customer_id == customer_id))
    for number in sorted(set(enterprise_numbers)):
        session.add(Affiliate(customer_id=customer_id, enterprise_number=number))
    await session.flush()


async def replace_affiliate_links(
    session: AsyncSession, parent_id: UUID, affiliate_ids: Iterable[UUID], at: datetime
) -> None:
    """The confirmed affiliates of ``parent_id`` [9.1], as its acceptance decided."""
    await session.execute(delete(AffiliateLink).where(AffiliateLink.parent_id == parent_id))
    for affiliate_id in sorted(set(affiliate_ids) - {parent_id}):
        session.add(AffiliateLink(parent_id=parent_id, affiliate_id=affiliate_id, confirmed_at=at))
    await session.flush()


async def terminated_among(session: AsyncSession, customer_ids: Collection[UUID]) -> set[UUID]:
    if not customer_ids:
        return set()
    rows = await session.execute(
        select(Customer.customer_id).where(
            Customer.customer_id.in_(customer_ids), Customer.status == "terminated"
        )
    )
    return set(rows.scalars())


async def group_links(
    session: AsyncSession,
    parent_ids: Collection[UUID] | None = None,
    child_ids: Collection[UUID] | None = None,
) -> set[tuple[UUID, UUID]]:
    """(parent, affiliate) pairs [9.1]: operator staff confirmed the affiliate when
    accepting the parent's registration. A listed enterprise number alone links nothing,
    whenever a company registers under it."""
    if parent_ids is not None and not parent_ids:
        return set()
    if child_ids is not None and not child_ids:
        return set()
    query = select(AffiliateLink.parent_id, AffiliateLink.affiliate_id)
    if parent_ids is not None:
        query = query.where(AffiliateLink.parent_id.in_(parent_ids))
    if child_ids is not None:
        query = query.where(AffiliateLink.affiliate_id.in_(child_ids))
    rows = await session.execute(query)
    return {(parent, child) for parent, child in rows if parent != child}


# -- users and their grants --------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: UUID) -> User | None:
    return await session.get(User, user_id)


async def people(session: AsyncSession, user_ids: Collection[UUID]) -> dict[UUID, Person]:
    """Users with all their active grants, in one query."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(User, Assignment)
        .outerjoin(
            Assignment,
            and_(Assignment.user_id == User.user_id, Assignment.status == ACTIVE),
        )
        .where(User.user_id.in_(user_ids))
    )
    users: dict[UUID, User] = {}
    grants: dict[UUID, list[Grant]] = defaultdict(list)
    for user, assignment in rows:
        users[user.user_id] = user
        if assignment is not None:
            grants[user.user_id].append(grant_of(assignment))
    return {uid: person_of(u, grants[uid]) for uid, u in users.items()}


async def person(session: AsyncSession, user_id: UUID) -> Person | None:
    return (await people(session, [user_id])).get(user_id)


async def users_with_ended_contracts(session: AsyncSession, today: date) -> list[UUID]:
    rows = await session.execute(
        select(User.user_id)
        .where(User.contract_ends_on < today)
        .where(
            select(Assignment.assignment_id)
            .where(Assignment.user_id == User.user_id, Assignment.status == ACTIVE)
            .exists()
        )
    )
    return list(rows.scalars())


# -- assignments -------------------------------------------------------------------------


async def get_assignment(session: AsyncSession, assignment_id: UUID) -> Assignment | None:
    return await session.get(Assignment, assignment_id)


async def active_assignments(
    session: AsyncSession,
    *,
    user_id: UUID | None = None,
    customer_id: UUID | None = None,
    held_by_customer: UUID | None = None,
) -> list[Assignment]:
    query = select(Assignment).where(Assignment.status == ACTIVE)
    if user_id is not None:
        query = query.where(Assignment.user_id == user_id)
    if customer_id is not None:
        query = query.where(Assignment.customer_id == customer_id)
    if held_by_customer is not None:
        members = select(User.user_id).where(User.customer_id == held_by_customer)
        query = query.where(Assignment.user_id.in_(members))
    rows = await session.execute(query.order_by(Assignment.granted_at, Assignment.assignment_id))
    return list(rows.scalars())


async def mark_revoked(
    session: AsyncSession, row: Assignment, *, by: str | None, reason: str, at: datetime
) -> bool:
    """Revoke if still active, as one conditional UPDATE: of two instances revoking the
    same assignment at once (sweep, API, event), exactly one wins and announces it."""
    result = await session.execute(
        update(Assignment)
        .where(Assignment.assignment_id == row.assignment_id, Assignment.status == ACTIVE)
        .values(status="revoked", revoked_at=at, revoked_by=by, revoke_reason=reason)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(row)
    return bool(getattr(result, "rowcount", 0) == 1)


async def count_active_owners(
    session: AsyncSession, customer_id: UUID, *, besides: UUID | None = None
) -> int:
    query = select(func.count()).where(
        Assignment.customer_id == customer_id,
        Assignment.status == ACTIVE,
        Assignment.profile == "access_owner",
        Assignment.third_party.is_(False),
    )
    if besides is not None:
        query = query.where(Assignment.assignment_id != besides)
    return int((await session.execute(query)).scalar_one())


# Oldest first, as the lists have always been: a grant's history reads in order.
ASSIGNMENTS_OLDEST_FIRST = Keyset(Assignment.granted_at, Assignment.assignment_id, descending=False)


async def page_assignments(
    session: AsyncSession,
    customer_id: UUID,
    *,
    limit: int,
    cursor: str | None,
    user_id: UUID | None,
    include_revoked: bool,
) -> Page[Assignment]:
    query = select(Assignment).where(Assignment.customer_id == customer_id)
    if not include_revoked:
        query = query.where(Assignment.status == ACTIVE)
    if user_id is not None:
        query = query.where(Assignment.user_id == user_id)
    rows = await session.scalars(ASSIGNMENTS_OLDEST_FIRST.apply(query, cursor, limit))
    return ASSIGNMENTS_OLDEST_FIRST.page(list(rows), limit)


# -- SIMs --------------------------------------------------------------------------------


async def get_sim(session: AsyncSession, sim_id: UUID) -> Sim | None:
    return await session.get(Sim, sim_id)


async def sims(session: AsyncSession, sim_ids: Collection[UUID]) -> dict[UUID, SimFacts]:
    if not sim_ids:
        return {}
    rows = await session.execute(select(Sim).where(Sim.sim_id.in_(sim_ids)))
    return {row.sim_id: sim_of(row) for row in rows.scalars()}


async def sims_on_accounts(
    session: AsyncSession, account_ids: Collection[UUID]
) -> dict[UUID, list[UUID]]:
    if not account_ids:
        return {}
    rows = await session.execute(
        select(Sim.billing_account_id, Sim.sim_id).where(
            Sim.billing_account_id.in_(account_ids), Sim.status == ACTIVE
        )
    )
    out: dict[UUID, list[UUID]] = defaultdict(list)
    for ba, sim_id in rows:
        out[ba].append(sim_id)
    return dict(out)


async def sims_of_end_user(session: AsyncSession, user_id: UUID) -> list[SimFacts]:
    rows = await session.execute(
        select(Sim).where(Sim.end_user_id == user_id, Sim.status == ACTIVE)
    )
    return [sim_of(row) for row in rows.scalars()]


# -- third-party delegations -------------------------------------------------------------


async def get_third_party(session: AsyncSession, id_: UUID) -> ThirdPartyDelegation | None:
    return await session.get(ThirdPartyDelegation, id_)


# Oldest first: operator staff decide pending requests in the order they were asked.
THIRD_PARTY_OLDEST_FIRST = Keyset(
    ThirdPartyDelegation.requested_at, ThirdPartyDelegation.id, descending=False
)


async def page_third_party(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    customer_id: UUID | None = None,
    status: str | None = None,
) -> Page[ThirdPartyDelegation]:
    t = ThirdPartyDelegation
    query = select(t)
    if customer_id is not None:
        query = query.where(t.customer_id == customer_id)
    if status is not None:
        query = query.where(t.status == status)
    rows = await session.scalars(THIRD_PARTY_OLDEST_FIRST.apply(query, cursor, limit))
    return THIRD_PARTY_OLDEST_FIRST.page(list(rows), limit)


async def pending_third_party(
    session: AsyncSession, *, customer_id: UUID | None = None, grantee: UUID | None = None
) -> list[ThirdPartyDelegation]:
    t = ThirdPartyDelegation
    query = select(t).where(t.status == "pending")
    if customer_id is not None:
        query = query.where(t.customer_id == customer_id)
    if grantee is not None:
        query = query.where(t.grantee_user_id == grantee)
    return list((await session.execute(query)).scalars())


async def decide_third_party(
    session: AsyncSession,
    row: ThirdPartyDelegation,
    *,
    status: str,
    by: str,
    at: datetime,
    reason: str | None = None,
    assignment_id: UUID | None = None,
) -> bool:
    """Move a pending delegation to ``status``; False when someone decided it first."""
    t = ThirdPartyDelegation
    result = await session.execute(
        update(t)
        .where(t.id == row.id, t.status == "pending")
        .values(
            status=status,
            decided_by=by,
            decided_at=at,
            decision_reason=reason,
            assignment_id=assignment_id,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(row)
    return bool(getattr(result, "rowcount", 0) == 1)


def new_id() -> UUID:
    return uuid.uuid4()
