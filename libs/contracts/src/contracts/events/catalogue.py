"""The price catalogue, published by billing (its owner, ADR 0014) for the others."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.base import EventPayload
from contracts.types import Money, PayloadPart

CatalogueZone = Literal["national", "eu", "world"]


class ZonePricesV1(PayloadPart):
    """Standard prices of calls and SMS to one zone, EUR excl. VAT."""

    voice_per_minute: Money
    sms_per_message: Money


class TariffPlanV1(PayloadPart):
    code: str = Field(min_length=1, examples=["SMART_S"])
    name: str
    monthly_fee: Money
    data_mb: int | None = Field(ge=0, description="Included data in MB; null = unlimited.")
    voice_min: int | None = Field(ge=0, description="Included national minutes; null = unlimited.")
    sms: int | None = Field(ge=0, description="Included national SMS; null = unlimited.")
    description: str = ""


class OptionV1(PayloadPart):
    code: str = Field(min_length=1, examples=["DATA_5GB"])
    name: str
    monthly_fee: Money
    compatible_plans: list[str] | None = Field(
        default=None, description="Plan codes the option fits; null = every plan."
    )
    extra_data_mb: int = Field(default=0, ge=0, description="Data the option adds, in MB.")
    voice_rates: dict[CatalogueZone, Money] = Field(
        default_factory=dict,
        description="Per-minute rates replacing the standard price of calls to a zone.",
    )
    description: str = ""


class PromotionV1(PayloadPart):
    """A percentage off subscription fees, applied when the invoice is made."""

    code: str = Field(min_length=1)
    name: str
    percent: Decimal = Field(gt=0, le=100)
    plans: list[str] | None = Field(default=None, description="Only these plans; null = all.")
    customer_ids: list[UUID] | None = Field(
        default=None, description="Only these customers; null = every customer."
    )


class CataloguePublishedV1(EventPayload):
    """One version of the price catalogue, whole: valid from `valid_from` until the next
    version's `valid_from`. A price change is a new version; never retroactive."""

    event_type: ClassVar[str] = "catalogue.published"
    version: ClassVar[int] = 1

    catalogue: Literal["mobile"] = Field(
        default="mobile", description="Which catalogue (the message key)."
    )
    catalogue_version: int = Field(ge=1, description="Increases with every version.")
    valid_from: AwareDatetime
    currency: Literal["EUR"] = "EUR"
    prices: dict[CatalogueZone, ZonePricesV1]
    data_per_mb: Money = Field(description="Standard price per started MB of data.")
    tariff_plans: list[TariffPlanV1]
    options: list[OptionV1]
    promotions: list[PromotionV1] = Field(default_factory=list)
    published_at: AwareDatetime

    def key(self) -> str:
        return self.catalogue

    def subject(self) -> str:
        return f"{self.catalogue}/{self.catalogue_version}"
