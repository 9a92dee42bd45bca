"""Events published by fleet: SIM changes and the fleet-manager application's status.

No device details (IMEI, brand, model) travel in events: they may only be shown for
company-owned devices, which is fleet's decision to make.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.base import EventPayload
from contracts.types import Money

SimChange = Literal[
    "provisioned",
    "tariff_plan_changed",
    "option_added",
    "option_removed",
    "end_user_changed",
    "device_changed",
    "deactivated",
]


class SimChangedV1(EventPayload):
    """A SIM was provisioned, changed or deactivated. Carries the SIM's state after the
    change and, in `previous`, the values it changed from."""

    event_type: ClassVar[str] = "sim.changed"
    version: ClassVar[int] = 1

    sim_id: UUID
    customer_id: UUID
    billing_account_id: UUID
    msisdn: str = Field(min_length=1, description="E.164, e.g. +32470123456.")
    change: SimChange
    tariff_plan: str
    options: list[str] = Field(default_factory=list, description="Option codes now active.")
    end_user_id: UUID | None = Field(default=None, description="The user who uses the SIM.")
    monthly_fee: Money | None = Field(
        default=None,
        description="Recurring fee of the plan and its options now active, EUR excl. VAT, "
        "at the price catalogue fleet received from billing; informative (billing charges "
        "from its own catalogue and SIM history); null before fleet has a catalogue.",
    )
    previous: dict[str, str | None] = Field(
        default_factory=dict,
        description='What changed from, by field name, e.g. {"tariff_plan": "MOBILE_S"} '
        "or {\"end_user_id\": null}; option_added/removed name the option in 'option'.",
    )
    requested_by: UUID | None = Field(
        default=None, description="User who asked for the change; null for operator/system."
    )
    changed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.sim_id)


class FleetManagerChangedV1(EventPayload):
    """The fleet-manager application was activated or terminated for a customer."""

    event_type: ClassVar[str] = "fleet-manager.changed"
    version: ClassVar[int] = 1

    customer_id: UUID
    status: Literal["active", "terminated"]
    sim_count: int = Field(ge=0, description="Operator SIMs of the customer at the change.")
    reason: str | None = Field(
        default=None, description="E.g. 'requested', 'below_threshold', 'customer_terminated'."
    )
    changed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.customer_id)
