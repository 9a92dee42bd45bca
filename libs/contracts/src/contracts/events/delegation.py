"""Events published by delegation: who holds which profile and rights."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.base import EventPayload
from contracts.types import PayloadPart, Profile

APPLICATIONS: tuple[str, ...] = (
    "user-management",
    "my-invoice-online",
    "invoice-insights",
    "fleet-manager",
    "mobile-numbers",
)
"""Portal applications known today (the set may grow)."""

PERMISSIONS: tuple[str, ...] = ("read", "manage", "order")
"""Permissions an assignment can carry today (the set may grow)."""


class ScopeV1(PayloadPart):
    """What an assignment covers. `null` on a dimension means the whole customer."""

    applications: list[str] | None = Field(
        default=None, description="Application names; null = all.", examples=[list(APPLICATIONS)]
    )
    billing_accounts: list[UUID] | None = Field(
        default=None, description="Billing account ids; null = all."
    )
    sims: list[UUID] | None = Field(default=None, description="SIM ids; null = all.")


class DelegationChangedV1(EventPayload):
    """A role assignment was granted, revoked or changed.

    `customer_id` is the customer whose data the rights are on; for a third-party
    delegation the user belongs to another customer.
    """

    event_type: ClassVar[str] = "delegation.changed"
    version: ClassVar[int] = 1

    customer_id: UUID
    user_id: UUID
    assignment_id: UUID
    change: Literal["granted", "revoked", "updated"]
    profile: Profile
    subprofiles: list[str] = Field(default_factory=list)
    scope: ScopeV1 = Field(default_factory=ScopeV1)
    permissions: list[str] = Field(
        default_factory=list, description="E.g. read, manage, order.", examples=[["read"]]
    )
    third_party: bool = Field(default=False, description="A third-party delegation.")
    changed_by: UUID | None = Field(
        default=None,
        description="Who made the change; null for an automatic change "
        "(contract ended, user deactivated, customer terminated).",
    )
    reason: str | None = Field(
        default=None,
        description="Why a right was revoked, e.g. revoked, contract_ended, user_deactivated, "
        "customer_terminated (open set: consumers accept new values).",
    )
    changed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.assignment_id)
