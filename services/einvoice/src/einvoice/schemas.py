"""Request bodies. Unknown fields are refused (422) where a typo would go unnoticed."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from einvoice import domain

Alert = Literal["email", "sms"]


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
    locale: Literal["nl", "fr", "en"] = Field(default="nl", description="Language of the mails.")

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
