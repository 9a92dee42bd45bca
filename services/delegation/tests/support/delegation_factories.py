"""Test data with fresh ids and random suffixes each time, so tests sharing one app and
database never see each other's customers and users: the domain's plain values (for the
rules' tests) and the other services' events (for the tests through the app)."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import UUID

from contracts.events import (
    ContractV1,
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    SimChangedV1,
    UserCreatedV1,
    UserDeactivatedV1,
)
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


# -- events from identity and fleet ---------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def suffix() -> str:
    return uuid.uuid4().hex[:8]


def enterprise_number() -> str:
    """A valid Belgian enterprise number (mod-97 check digits), different each time."""
    base = random.randint(2_000_000, 19_999_999)
    return f"{base:08d}{97 - base % 97:02d}"


def customer_registered(
    customer_id: UUID | None = None,
    registrant: UUID | None = None,
    *,
    wants_access_owner: bool = True,
    affiliates: list[str] | None = None,
    number: str | None = None,
    confirmed: list[UUID] | None = None,
) -> CustomerRegisteredV1:
    return CustomerRegisteredV1(
        customer_id=customer_id or uuid.uuid4(),
        enterprise_number=number or enterprise_number(),
        company_name=f"Brouwerij {suffix()}",
        affiliates=affiliates or [],
        confirmed_affiliates=confirmed or [],
        registrant_user_id=registrant or uuid.uuid4(),
        wants_access_owner=wants_access_owner,
        accepted_at=now(),
    )


def user_created(
    user_id: UUID,
    customer_id: UUID,
    profile: str,
    *,
    registrant: bool = False,
    kind: str = "employee",
    ends_on: date | None = None,
    subprofiles: list[str] | None = None,
    invited_by: UUID | None = None,
) -> UserCreatedV1:
    return UserCreatedV1(
        user_id=user_id,
        customer_id=customer_id,
        email=f"u-{user_id.hex[:8]}@example.be",
        first_name="An",
        last_name=f"Peeters-{suffix()}",
        locale="nl",
        profile=profile,  # type: ignore[arg-type]  # tests pass the profiles as plain str
        subprofiles=subprofiles or [],
        contract=ContractV1(kind=kind, ends_on=ends_on),  # type: ignore[arg-type]  # likewise
        registrant=registrant,
        invited_by=None if registrant else (invited_by or uuid.uuid4()),
        created_at=now(),
    )


def user_deactivated(user_id: UUID, customer_id: UUID) -> UserDeactivatedV1:
    return UserDeactivatedV1(
        user_id=user_id, customer_id=customer_id, reason="removed", deactivated_at=now()
    )


def customer_terminated(customer_id: UUID) -> CustomerTerminatedV1:
    return CustomerTerminatedV1(
        customer_id=customer_id, by="customer", effective_on=date.today(), terminated_at=now()
    )


def sim_changed(
    customer_id: UUID,
    billing_account_id: UUID,
    end_user: UUID | None = None,
    *,
    sim_id: UUID | None = None,
    change: str = "provisioned",
    at: datetime | None = None,
) -> SimChangedV1:
    return SimChangedV1(
        sim_id=sim_id or uuid.uuid4(),
        customer_id=customer_id,
        billing_account_id=billing_account_id,
        msisdn=f"+32470{random.randint(0, 999_999):06d}",
        change=change,  # type: ignore[arg-type]  # tests pass the change as plain str
        tariff_plan="MOBILE_M",
        end_user_id=end_user,
        changed_at=at or now(),
    )
