"""Request and response bodies. Unknown request fields are refused (422) where a typo would
go unnoticed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from contracts.types import Locale
from einvoice import domain

Alert = domain.Alert


class EmailChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, description="Where invoices are sent (not the login).")
    mobile: str | None = Field(
        default=None, max_length=32, description="For SMS alerts: E.164 or Belgian notation."
    )
    alerts: list[Alert] = Field(
        default_factory=lambda: list[Alert](["email"]),
        max_length=2,
        description="How to be told of a new invoice: e-mail, SMS or both.",
    )
    locale: Locale = Field(default="nl", description="Language of the mails.")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return domain.normalize_email(value)

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return domain.normalize_mobile(value)

    @field_validator("alerts")
    @classmethod
    def _alerts(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return domain.check_alerts(value, info.data.get("mobile"))


class BankAppIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iban: str = Field(max_length=42, description="Belgian IBAN of the account to pay from.")

    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        return domain.normalize_belgian_iban(value)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=16, max_length=200)


class BankCallbackIn(BaseModel):
    # Tolerant reader: the bank network may add fields; the signature covers the body.
    model_config = ConfigDict(extra="ignore")

    billing_account_id: uuid.UUID
    decision: Literal["accepted", "refused"]
    reference: str = Field(min_length=1, max_length=64)


class PeppolIn(BaseModel):
    """Nothing to give: the participant is the customer's enterprise number."""

    model_config = ConfigDict(extra="forbid")


# -- responses ------------------------------------------------------------------------

# A record's status as callers see it: cancelled shows as paper, superseded never shows.
ChannelStatus = Literal[
    "pending_confirmation", "pending_bank_acceptance", "active", "expired", "refused"
]
# Every status a record can have: a repeated bank answer reports the record as it is now.
RecordStatus = Literal[
    "pending_confirmation",
    "pending_bank_acceptance",
    "active",
    "expired",
    "refused",
    "cancelled",
    "superseded",
]
Scope = Literal["customer_fixed", "billing_account"]
DeliveryStatus = Literal[
    "notification_requested",
    "queued_for_bank",
    "handed_to_bank_adapter",
    "queued_for_access_point",
    "handed_to_access_point",
    "queued_for_print",
]


class ChannelOut(BaseModel):
    """A channel and where it stands. Paper is only ``{channel, status}``; fields that do
    not apply to a channel or its state are absent."""

    channel: domain.ChannelName
    status: ChannelStatus
    scope: Scope | None = Field(
        default=None, description="customer_fixed: one e-mail choice for all fixed accounts."
    )
    request_id: uuid.UUID | None = None
    requested_at: datetime | None = None
    activated_at: datetime | None = None
    ended_at: datetime | None = None
    email: str | None = None
    mobile: str | None = Field(default=None, description="E.164, for SMS alerts.")
    alerts: list[Alert] | None = None
    locale: Locale | None = None
    expires_at: datetime | None = Field(
        default=None, description="While awaiting confirmation: when the link stops working."
    )
    iban: str | None = Field(default=None, description="Masked: country, check digits, last 4.")
    reference: str | None = Field(default=None, description="The bank's reference.")
    effective_from_period: str | None = Field(
        default=None, description="Bank app: first billing period (YYYY-MM) it delivers."
    )


class ChannelRequestOut(ChannelOut):
    """A channel just chosen (or changed) on a billing account."""

    billing_account_id: uuid.UUID


class DeliveryOut(ChannelOut):
    """``channel``/``status``: the latest choice and where it stands; ``in_force``: where
    the next invoice goes (they differ while a choice awaits confirmation or the bank)."""

    billing_account_id: uuid.UUID
    customer_id: uuid.UUID
    kind: domain.AccountKind
    in_force: ChannelOut


class EmailConfirmedOut(BaseModel):
    billing_account_id: uuid.UUID
    channel: Literal["email"]
    status: ChannelStatus
    scope: Scope
    alerts: list[Alert]
    covered_billing_account_ids: list[uuid.UUID]


class BankDecisionOut(BaseModel):
    billing_account_id: uuid.UUID
    channel: Literal["bank_app"]
    status: RecordStatus
    reference: str
    effective_from_period: str | None


class DeliveryItemOut(BaseModel):
    """One invoice sent on one channel."""

    model_config = ConfigDict(from_attributes=True)

    delivery_id: uuid.UUID = Field(validation_alias="id")
    invoice_id: uuid.UUID
    invoice_number: str
    billing_account_id: uuid.UUID
    period: str
    channel: domain.ChannelName
    status: DeliveryStatus
    notification_request_ids: list[uuid.UUID]
    delivered_at: datetime
