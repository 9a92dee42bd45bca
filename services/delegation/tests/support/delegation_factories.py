"""Builders for the domain's plain values, with fresh ids each time."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from uuid import UUID

from delegation.domain import Grant, Person, Scope, SimFacts, Target, TargetUser

TODAY = date(2026, 11, 26)
CUSTOMER = uuid.uuid4()
OTHER_CUSTOMER = uuid.uuid4()
BA = uuid.uuid4()
OTHER_BA = uuid.uuid4()


def grant(profile: str, customer_id: UUID = CUSTOMER, **kw: object) -> Grant:
    return Grant(customer_id=customer_id, profile=profile, assignment_id=uuid.uuid4(), **kw)  # type: ignore[arg-type]


def person(*grants: Grant, customer_id: UUID = CUSTOMER, **kw: object) -> Person:
    return Person(user_id=uuid.uuid4(), customer_id=customer_id, grants=tuple(grants), **kw)  # type: ignore[arg-type]


def owner(**kw: object) -> Person:
    return person(grant("access_owner"), **kw)


def manager(**kw: object) -> Person:
    return person(grant("access_manager"), **kw)


def portal_user(*grants: Grant, subprofiles: frozenset[str] = frozenset()) -> Person:
    """An invited portal user: the profile assignment carries no rights of its own."""
    return person(grant("portal_user", subprofiles=subprofiles), *grants)


def service_user(*grants: Grant) -> Person:
    return person(grant("service_user"), *grants)


def rights(
    *permissions: str,
    apps: tuple[str, ...] | None = None,
    bas: tuple[UUID, ...] | None = None,
    sims: tuple[UUID, ...] | None = None,
    profile: str = "portal_user",
    customer_id: UUID = CUSTOMER,
    **kw: object,
) -> Grant:
    scope = Scope(
        applications=frozenset(apps) if apps is not None else None,
        billing_accounts=frozenset(bas) if bas is not None else None,
        sims=frozenset(sims) if sims is not None else None,
    )
    return grant(profile, customer_id, scope=scope, permissions=frozenset(permissions), **kw)


def customer(customer_id: UUID = CUSTOMER) -> Target:
    return Target(type="customer", id=customer_id, customer_id=customer_id)


def invoice(ba: UUID = BA, customer_id: UUID = CUSTOMER) -> Target:
    return Target(type="invoice", id=uuid.uuid4(), customer_id=customer_id, billing_account_id=ba)


def billing_account(ba: UUID = BA, customer_id: UUID = CUSTOMER) -> Target:
    return Target(type="billing_account", id=ba, customer_id=customer_id)


def sim(
    end_user: UUID | None = None, ba: UUID = BA, customer_id: UUID = CUSTOMER, active: bool = True
) -> Target:
    sim_id = uuid.uuid4()
    facts = SimFacts(sim_id, customer_id, ba, end_user_id=end_user, active=active)
    return Target(type="sim", id=sim_id, customer_id=customer_id, sim=facts)


def user_target(of: Person, *, is_access_owner: bool = False) -> Target:
    return Target(
        type="user",
        id=of.user_id,
        customer_id=of.customer_id,
        user=TargetUser(of.user_id, of.customer_id, is_access_owner=is_access_owner),
    )


def with_(p: Person, **kw: object) -> Person:
    return replace(p, **kw)  # type: ignore[arg-type]
