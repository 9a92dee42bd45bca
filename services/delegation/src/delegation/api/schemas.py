"""Request and response bodies of the public API (API.md "delegation")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from delegation.domain import ACTIONS, APPLICATIONS, PERMISSIONS, RESOURCE_TYPES, Scope
from delegation.models import Assignment, ThirdPartyDelegation

Action = Literal[
    "user.manage",
    "role.grant",
    "invoice.read",
    "usage.read",
    "invoice.object",
    "sim.read",
    "sim.manage",
    "device.read",
    "product.order",
    "einvoice.manage",
    "fleet_manager.activate",
    "delegation.third_party",
    "audit.read",
    "user.remove",
    "access_owner.appoint",
    "customer.terminate",
]
ResourceType = Literal["customer", "user", "billing_account", "invoice", "sim"]
Application = Literal[
    "user-management", "my-invoice-online", "invoice-insights", "fleet-manager", "mobile-numbers"
]
Permission = Literal["read", "manage", "order"]
ThirdPartyStatus = Literal["pending", "approved", "refused", "cancelled"]
Profile = Literal["access_owner", "access_manager", "portal_user", "service_user"]
Subprofile = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,49}$")]

# The Literals above are what the OpenAPI document shows; keep them the domain's.
assert set(get_args(Action)) == set(ACTIONS)
assert set(get_args(ResourceType)) == set(RESOURCE_TYPES)
assert set(get_args(Application)) == set(APPLICATIONS)
assert set(get_args(Permission)) == set(PERMISSIONS)

MAX_IDS = 500


class ResourceIn(BaseModel):
    # Tolerant: a newer client may send more about the resource than we use.
    model_config = ConfigDict(extra="ignore")

    type: ResourceType
    id: UUID | None = None
    customer_id: UUID
    billing_account_id: UUID | None = None
    sim_id: UUID | None = None


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: UUID
    action: Action
    resource: ResourceIn


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    checks: list[CheckIn] = Field(max_length=500)


class DecisionOut(BaseModel):
    allowed: bool
    reason: str


class BatchOut(BaseModel):
    results: list[DecisionOut]


class ResourcesOut(BaseModel):
    customer_ids: list[UUID]
    ids: list[UUID]
    all_of_customer: bool
    billing_account_ids: list[UUID] = Field(
        default_factory=list,
        description="Billing accounts behind partial grants (ids of type invoice and "
        "billing_account are billing-account ids).",
    )


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    applications: list[Application] | None = Field(default=None, max_length=20)
    billing_accounts: list[UUID] | None = Field(default=None, max_length=MAX_IDS)
    sims: list[UUID] | None = Field(default=None, max_length=MAX_IDS)

    def to_domain(self) -> Scope:
        return Scope(
            applications=None if self.applications is None else frozenset(self.applications),
            billing_accounts=None
            if self.billing_accounts is None
            else frozenset(self.billing_accounts),
            sims=None if self.sims is None else frozenset(self.sims),
        )


class ScopeOut(BaseModel):
    applications: list[str] | None = None
    billing_accounts: list[UUID] | None = None
    sims: list[UUID] | None = None


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UUID
    profile: Profile
    subprofiles: list[Subprofile] = Field(default_factory=list, max_length=20)
    scope: ScopeIn | None = None
    permissions: list[Permission] = Field(default_factory=list, max_length=3)


class AssignmentOut(BaseModel):
    assignment_id: UUID
    customer_id: UUID
    user_id: UUID
    profile: str
    subprofiles: list[str]
    scope: ScopeOut
    permissions: list[str]
    third_party: bool
    status: str
    source: str
    granted_by: str | None
    granted_at: datetime
    revoked_by: str | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None

    @classmethod
    def of(cls, row: Assignment) -> AssignmentOut:
        return cls(
            assignment_id=row.assignment_id,
            customer_id=row.customer_id,
            user_id=row.user_id,
            profile=row.profile,
            subprofiles=list(row.subprofiles or []),
            scope=_scope_out(row),
            permissions=list(row.permissions or []),
            third_party=row.third_party,
            status=row.status,
            source=row.source,
            granted_by=row.granted_by,
            granted_at=row.granted_at,
            revoked_by=row.revoked_by,
            revoked_at=row.revoked_at,
            revoke_reason=row.revoke_reason,
        )


class ThirdPartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grantee_user_id: UUID
    scope: ScopeIn | None = None
    permissions: list[Permission] = Field(min_length=1, max_length=3)


class DecisionReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class ThirdPartyOut(BaseModel):
    id: UUID
    customer_id: UUID
    grantee_user_id: UUID
    scope: ScopeOut
    permissions: list[str]
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    assignment_id: UUID | None = None

    @classmethod
    def of(cls, row: ThirdPartyDelegation) -> ThirdPartyOut:
        return cls(
            id=row.id,
            customer_id=row.customer_id,
            grantee_user_id=row.grantee_user_id,
            scope=_scope_out(row),
            permissions=list(row.permissions or []),
            status=row.status,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            assignment_id=row.assignment_id,
        )


def _scope_out(row: Any) -> ScopeOut:
    return ScopeOut(
        applications=row.scope_applications,
        billing_accounts=row.scope_billing_accounts,
        sims=row.scope_sims,
    )
