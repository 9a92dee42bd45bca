"""The check API's use cases: decide one or many checks, list what a user may see.

Decisions read what they need from ``deps.projection`` (people, SIMs, terminated
customers, group links in memory, forgotten on every change: ADR 0022); a batch loads
each missing subject, SIM and customer once, so a check costs no query when its facts
are in memory and two to four indexed queries whatever the batch size when they are not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from delegation import repository as repo
from delegation.deps import Deps
from delegation.domain import (
    ACCESS_OWNER,
    DATA_RIGHTS,
    PORTAL_USER,
    SERVICE_USER,
    Decision,
    Person,
    Target,
    TargetUser,
    Visible,
    decide,
    visible,
)
from delegation.service.common import today, with_group


@dataclass(frozen=True)
class ResourceRef:
    type: str
    id: UUID | None
    customer_id: UUID
    billing_account_id: UUID | None = None
    sim_id: UUID | None = None

    @property
    def sim_ref(self) -> UUID | None:
        return (self.id or self.sim_id) if self.type == "sim" else self.sim_id


@dataclass(frozen=True)
class Check:
    subject: UUID
    action: str
    resource: ResourceRef


async def decide_many(session: AsyncSession, deps: Deps, checks: list[Check]) -> list[Decision]:
    if not checks:
        return []
    day = today(deps)
    subjects = {c.subject for c in checks}
    target_users = {c.resource.id for c in checks if c.resource.type == "user" and c.resource.id}
    sim_ids = {s for c in checks if (s := c.resource.sim_ref) is not None}
    customers = {c.resource.customer_id for c in checks}

    projection = deps.projection
    people = await projection.people(session, subjects | target_users)
    sims = await projection.sims(session, sim_ids)
    terminated = await projection.terminated_among(session, customers)
    # Only removals ask how many access owners a customer has (read fresh, not cached).
    owners_left = {
        c: await repo.count_active_owners(session, c)
        for c in {x.resource.customer_id for x in checks if x.action == "user.remove"}
    }
    parents = {
        g.customer_id
        for uid in subjects
        if (p := people.get(uid)) is not None
        for g in p.grants
        if g.profile == ACCESS_OWNER and not g.third_party
    }
    links = (
        await projection.group_links(session, parents, customers - parents) if parents else set()
    )

    def subject_of(uid: UUID) -> Person | None:
        p = people.get(uid)
        if p is None or not links:
            return p
        mine = {g.customer_id for g in p.grants if g.profile == ACCESS_OWNER and not g.third_party}
        return replace(p, group_owner_of=frozenset(c for parent, c in links if parent in mine))

    out = []
    for check in checks:
        r = check.resource
        target_user = None
        if r.type == "user" and r.id is not None and (tu := people.get(r.id)) is not None:
            is_owner = any(
                g.profile == ACCESS_OWNER and g.customer_id == r.customer_id and not g.third_party
                for g in tu.grants
            )
            target_user = TargetUser(
                tu.user_id,
                tu.customer_id,
                is_access_owner=is_owner,
                last_access_owner=is_owner and owners_left.get(r.customer_id) == 1,
            )
        sim_ref = r.sim_ref
        target = Target(
            type=r.type,
            id=r.id,
            customer_id=r.customer_id,
            billing_account_id=r.billing_account_id,
            sim_id=r.sim_id,
            customer_terminated=r.customer_id in terminated,
            sim=sims.get(sim_ref) if sim_ref is not None else None,
            user=target_user,
        )
        out.append(decide(subject_of(check.subject), check.action, target, day))
    return out


async def resources_of(
    session: AsyncSession,
    deps: Deps,
    user_id: UUID,
    type_: str,
    action: str,
    *,
    only_customers: frozenset[UUID] | None = None,
) -> Visible:
    """What the user may act on; with ``only_customers``, only within those customers."""
    found = await repo.person(session, user_id)
    if found is None:
        return Visible()
    person = await with_group(session, found, None)
    customers = {g.customer_id for g in person.grants} | set(person.group_owner_of)
    left_out = frozenset(await repo.terminated_among(session, customers))
    if only_customers is not None:
        left_out |= frozenset(customers - only_customers)
    sims_by_account: dict[UUID, list[UUID]] = {}
    own_sims = []
    if type_ == "sim" and action in DATA_RIGHTS:
        accounts = {
            ba
            for g in person.grants
            if g.profile == PORTAL_USER and g.scope.billing_accounts is not None
            for ba in g.scope.billing_accounts
        }
        sims_by_account = await repo.sims_on_accounts(session, accounts)
        if any(g.profile == SERVICE_USER for g in person.grants):
            own_sims = await repo.sims_of_end_user(session, user_id)
    return visible(
        person,
        type_,
        action,
        today(deps),
        terminated=left_out,
        sims_by_account=sims_by_account,
        own_sims=own_sims,
    )
