"""Request and response bodies. Money uses contracts' ``Money``: a decimal string."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.types import Money
from fleet.domain import catalogue, identifiers
from fleet.domain.rules import DeviceView
from fleet.models import Sim, SimHistory


class _Body(BaseModel):
    # Unknown fields are refused: a misspelt field must not be silently ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProvisionSim(_Body):
    customer_id: UUID
    billing_account_id: UUID
    iccid: str = Field(max_length=40, examples=["8932001234567890128"])
    msisdn: str = Field(max_length=30, examples=["+32470123456"])
    imsi: str = Field(max_length=30, examples=["206011234567890"])
    tariff_plan: str = Field(max_length=40, examples=["SMART_M"])
    options: list[str] = Field(default_factory=list, max_length=20)
    end_user_id: UUID | None = None
    active_since: date | None = Field(
        default=None,
        description="For a SIM taken over from the network's inventory: the day (Belgian "
        "time) it became active, at most 24 months ago and never in the future; its plan "
        "and options count from then (billing prorates and applies allowances from it). "
        "Default: now.",
    )

    _iccid = field_validator("iccid")(identifiers.normalize_iccid)
    _msisdn = field_validator("msisdn")(identifiers.normalize_msisdn)
    _imsi = field_validator("imsi")(identifiers.normalize_imsi)
    # Plan and options are checked against the catalogue valid now, in the use case.


class TariffPlanChange(_Body):
    tariff_plan: str = Field(max_length=40)


class OptionOrder(_Body):
    option: str = Field(max_length=40)


class EndUserChange(_Body):
    user_id: UUID | None = Field(description="The user who uses the SIM; null for nobody.")


class DeviceBody(_Body):
    ownership: Literal["company", "personal"]
    imei: str | None = Field(default=None, max_length=40)
    brand: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)

    @field_validator("imei")
    @classmethod
    def _imei(cls, value: str | None) -> str | None:
        return None if value is None else identifiers.normalize_imei(value)

    @model_validator(mode="after")
    def _company_needs_imei(self) -> DeviceBody:
        if self.ownership == "company" and self.imei is None:
            raise ValueError("a company-owned device needs its imei")
        return self


def _fee(products: catalogue.Catalogue | None, sim: Sim) -> Decimal | None:
    if products is None:
        return None
    try:
        return products.monthly_fee(sim.tariff_plan, sim.option_codes)
    except catalogue.UnknownProduct:
        return None


class SimOut(BaseModel):
    """The SIM as shown in lists, exports and on its own page."""

    sim_id: UUID
    customer_id: UUID
    billing_account_id: UUID
    iccid: str
    msisdn: str
    imsi: str
    status: Literal["active", "deactivated"]
    tariff_plan: str
    options: list[str]
    end_user_id: UUID | None
    monthly_fee: Money | None = Field(
        description="Plan plus options, EUR excl. VAT, per month, at the price catalogue "
        "valid now (billing's); null until fleet has received it."
    )
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None = None

    @classmethod
    def of(cls, sim: Sim, products: catalogue.Catalogue | None) -> SimOut:
        """``products``: the catalogue valid now, for the fee (null without one)."""
        return cls.model_validate(
            {
                "sim_id": sim.id,
                "customer_id": sim.customer_id,
                "billing_account_id": sim.billing_account_id,
                "iccid": sim.iccid,
                "msisdn": sim.msisdn,
                "imsi": sim.imsi,
                "status": sim.status,
                "tariff_plan": sim.tariff_plan,
                "options": sim.option_codes,
                "end_user_id": sim.end_user_id,
                "monthly_fee": _fee(products, sim),
                "created_at": sim.created_at,
                "updated_at": sim.updated_at,
                "deactivated_at": sim.deactivated_at,
            }
        )


class ActorOut(BaseModel):
    kind: Literal["user", "operator", "service", "system"]
    id: str | None


class HistoryEntryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: UUID
    change: str
    from_: str | None = Field(alias="from")
    to: str | None
    by: ActorOut
    at: datetime

    @classmethod
    def of(cls, entry: SimHistory) -> HistoryEntryOut:
        return cls.model_validate(
            {
                "id": entry.id,
                "change": entry.change,
                "from": entry.from_value,
                "to": entry.to_value,
                "by": {"kind": entry.actor_kind, "id": entry.actor_id},
                "at": entry.at,
            }
        )


class TariffPlanOut(BaseModel):
    code: str
    name: str
    monthly_fee: Money
    data_mb: int | None = Field(description="Included data; null = unlimited.")
    voice_min: int | None = Field(description="Included minutes; null = unlimited.")
    sms: int | None = Field(description="Included messages; null = unlimited.")
    description: str


class OptionOut(BaseModel):
    code: str
    name: str
    monthly_fee: Money
    compatible_plans: list[str] | None = Field(description="null = every plan.")
    extra_data_mb: int
    description: str


class CatalogueOut(BaseModel):
    tariff_plans: list[TariffPlanOut]
    options: list[OptionOut]


class DataUsage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    used_bytes: int
    used_mb: float
    included_mb: int | None
    remaining_mb: float | None
    amount: Money


class VoiceUsage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    used_seconds: int
    used_minutes: float
    included_minutes: int | None
    remaining_minutes: float | None
    amount: Money


class SmsUsage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    used: int
    included: int | None
    remaining: float | None
    amount: Money


class ConsumptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sim_id: UUID
    msisdn: str
    period: str
    tariff_plan: str
    data: DataUsage
    voice: VoiceUsage
    sms: SmsUsage
    total_amount: Money = Field(description="Usage at standard prices, EUR excl. VAT.")
    updated_at: datetime | None


class DeviceImeiOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, from_attributes=True)

    imei: str | None
    brand: str | None
    model: str | None
    from_: datetime = Field(alias="from")
    to: datetime | None


class DeviceSimOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, from_attributes=True)

    sim_id: UUID
    msisdn: str
    from_: datetime = Field(alias="from")
    to: datetime | None


class DeviceOut(BaseModel):
    """A personal device shows ``ownership`` only; the other fields are absent."""

    ownership: Literal["company", "personal"]
    imei: str | None = None
    brand: str | None = None
    model: str | None = None
    since: datetime | None = None
    imei_history: list[DeviceImeiOut] | None = None
    sim_history: list[DeviceSimOut] | None = None

    @classmethod
    def of(cls, view: DeviceView) -> DeviceOut:
        # Unset fields are left out of the reply: a personal device shows its ownership
        # and nothing else, not even nulls.
        if view.ownership != "company":
            return cls(ownership="personal")
        return cls(
            ownership="company",
            imei=view.imei,
            brand=view.brand,
            model=view.model,
            since=view.since,
            imei_history=[DeviceImeiOut.model_validate(p) for p in view.imei_history],
            sim_history=[DeviceSimOut.model_validate(p) for p in view.sim_history],
        )


class FleetManagerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: UUID
    status: Literal["inactive", "active", "terminated"]
    sim_count: int = Field(description="Active operator SIMs of the customer now.")
    threshold: int
    eligible: bool
    reason: str | None
    activated_at: datetime | None
    terminated_at: datetime | None
