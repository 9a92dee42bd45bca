"""Plain data the rules work on: people, their grants, the resource asked about.

Nothing here knows about HTTP, SQL or Kafka; the repository builds these values from
rows and the rules in ``decisions``, ``granting`` and ``visibility`` read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from uuid import UUID

ProfileName = Literal["access_owner", "access_manager", "portal_user", "service_user"]

ACCESS_OWNER = "access_owner"
ACCESS_MANAGER = "access_manager"
PORTAL_USER = "portal_user"
SERVICE_USER = "service_user"
PROFILES: tuple[str, ...] = (ACCESS_OWNER, ACCESS_MANAGER, PORTAL_USER, SERVICE_USER)
ADMIN_PROFILES = frozenset({ACCESS_OWNER, ACCESS_MANAGER})
DATA_PROFILES = frozenset({PORTAL_USER, SERVICE_USER})

# [9.2] Rights within the organization only for these contracts; a "third_party"
# contract gets rights only through an approved third-party delegation.
INTERNAL_CONTRACTS = frozenset({"employee", "civil_servant", "management"})

PURCHASER = "purchaser"

RESOURCE_TYPES: tuple[str, ...] = ("customer", "user", "billing_account", "invoice", "sim")


@dataclass(frozen=True)
class Scope:
    """What a grant covers; ``None`` on a dimension means the whole customer."""

    applications: frozenset[str] | None = None
    billing_accounts: frozenset[UUID] | None = None
    sims: frozenset[UUID] | None = None

    @property
    def whole_customer(self) -> bool:
        return self.billing_accounts is None and self.sims is None

    @property
    def is_unrestricted(self) -> bool:
        return self.applications is None and self.whole_customer


WHOLE_CUSTOMER = Scope()


@dataclass(frozen=True)
class Grant:
    """One active assignment: a profile in a customer, with scope and permissions."""

    customer_id: UUID
    profile: str
    subprofiles: frozenset[str] = frozenset()
    scope: Scope = WHOLE_CUSTOMER
    permissions: frozenset[str] = frozenset()
    third_party: bool = False
    assignment_id: UUID | None = None

    def has_permission(self, permission: str) -> bool:
        # Managing something includes seeing it; ordering does not.
        if permission in self.permissions:
            return True
        return permission == "read" and "manage" in self.permissions


@dataclass(frozen=True)
class Person:
    """A user as delegation knows them, with every active grant they hold."""

    user_id: UUID
    customer_id: UUID
    active: bool = True
    contract_kind: str | None = "employee"
    contract_ends_on: date | None = None
    grants: tuple[Grant, ...] = ()
    # Customers of which this person is access owner through an affiliation [9.1]
    # (filled by the repository for the customers a decision is about).
    group_owner_of: frozenset[UUID] = frozenset()

    @property
    def internal(self) -> bool:
        return self.contract_kind in INTERNAL_CONTRACTS

    def contract_ended(self, today: date) -> bool:
        # ends_on is the last day of the contract: rights hold through that day.
        return self.contract_ends_on is not None and self.contract_ends_on < today

    def can_hold_rights(self, today: date) -> bool:
        return self.active and not self.contract_ended(today)

    def grants_in(self, customer_id: UUID) -> tuple[Grant, ...]:
        """Grants that count in a customer: third-party ones always, the others only for
        people with an internal contract [9.2]."""
        return tuple(
            g
            for g in self.grants
            if g.customer_id == customer_id and (g.third_party or self.internal)
        )

    def is_owner_of(self, customer_id: UUID) -> bool:
        if any(
            g.profile == ACCESS_OWNER and not g.third_party for g in self.grants_in(customer_id)
        ):
            return True
        return self.internal and customer_id in self.group_owner_of

    def administers(self, customer_id: UUID) -> str | None:
        """``access_owner``, ``access_manager`` or None. Third-party grants never make an
        administrator: a third party never re-delegates."""
        if self.is_owner_of(customer_id):
            return ACCESS_OWNER
        if any(
            g.profile == ACCESS_MANAGER and not g.third_party for g in self.grants_in(customer_id)
        ):
            return ACCESS_MANAGER
        return None

    def has_standing_in(self, customer_id: UUID) -> bool:
        """Whether the customer is any of this person's business (else: 404, not 403)."""
        return (
            self.customer_id == customer_id
            or customer_id in self.group_owner_of
            or any(g.customer_id == customer_id for g in self.grants)
        )


@dataclass(frozen=True)
class SimFacts:
    """What fleet told us about a SIM (``sim.changed``)."""

    sim_id: UUID
    customer_id: UUID
    billing_account_id: UUID
    end_user_id: UUID | None = None
    active: bool = True


@dataclass(frozen=True)
class TargetUser:
    """The user a ``user``-type resource names."""

    user_id: UUID
    customer_id: UUID
    is_access_owner: bool = False
    # The only active (non third-party) access owner of the customer asked about.
    last_access_owner: bool = False


@dataclass(frozen=True)
class Target:
    """The resource of a check, enriched with what delegation knows about it."""

    type: str
    id: UUID | None
    customer_id: UUID
    billing_account_id: UUID | None = None
    sim_id: UUID | None = None
    customer_terminated: bool = False
    sim: SimFacts | None = None
    user: TargetUser | None = None

    @property
    def sim_ref(self) -> UUID | None:
        if self.type == "sim":
            return self.id or self.sim_id
        return self.sim_id

    @property
    def billing_account_ref(self) -> UUID | None:
        if self.type == "billing_account" and self.id is not None:
            return self.id
        if self.billing_account_id is not None:
            return self.billing_account_id
        return self.sim.billing_account_id if self.sim is not None else None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def allow(reason: str) -> Decision:
    return Decision(True, reason)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


@dataclass(frozen=True)
class Visible:
    """What a person may act on for one (type, action): whole customers plus single ids."""

    customer_ids: frozenset[UUID] = frozenset()
    ids: frozenset[UUID] = frozenset()
    billing_account_ids: frozenset[UUID] = field(default_factory=frozenset)
