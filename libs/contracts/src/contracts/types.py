"""Field types shared by the payload models.

Each type fixes both how the value is validated and how it looks on the wire (and so in
the exported JSON Schema): money is a decimal string, never a float; periods are
``YYYY-MM``; phone numbers are E.164.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

MONEY_PATTERN = r"^-?\d+(\.\d+)?$"
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
E164_PATTERN = r"^\+[1-9]\d{6,14}$"
ENTERPRISE_NUMBER_PATTERN = r"^\d{10}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"


def _reject_float(value: Any) -> Any:
    # A float has already lost the cents (0.1 + 0.2); only str, int or Decimal are exact.
    if isinstance(value, float | bool):
        raise ValueError("money must be a decimal string such as '12.34', not a number")
    return value


def _plain_decimal(value: Decimal) -> str:
    # format "f" never yields exponent notation ("1E+2" -> "100").
    return format(value, "f")


Money = Annotated[
    Decimal,
    BeforeValidator(_reject_float),
    Field(allow_inf_nan=False),
    PlainSerializer(_plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": 'Amount in EUR as a decimal string, e.g. "12.34"; never a float.',
        }
    ),
]
"""An amount of money (EUR). A ``Decimal`` in Python, a decimal string in JSON."""

Period = Annotated[
    str,
    StringConstraints(pattern=PERIOD_PATTERN),
    Field(description="Billing period, YYYY-MM.", examples=["2026-10"]),
]
"""A billing period (calendar month), ``YYYY-MM``."""

E164 = Annotated[
    str,
    StringConstraints(pattern=E164_PATTERN),
    Field(description="Phone number in E.164 form, e.g. +32470123456."),
]
"""A phone number in E.164 form."""

Email = Annotated[
    str,
    StringConstraints(pattern=EMAIL_PATTERN, max_length=254),
    Field(description="E-mail address."),
]
"""An e-mail address (checked loosely: the producer validated it properly)."""

EnterpriseNumber = Annotated[
    str,
    StringConstraints(pattern=ENTERPRISE_NUMBER_PATTERN),
    Field(description="Belgian enterprise number (KBO/BCE), 10 digits, no dots or spaces."),
]
"""A Belgian enterprise number, normalized to 10 digits (mod-97 checked by the producer)."""

Locale = Literal["nl", "fr", "en"]
"""A recipient's language."""

Profile = Literal["access_owner", "access_manager", "portal_user", "service_user"]
"""A user's profile within a customer."""

BillingAccountKind = Literal["fixed", "mobile"]
UsageKind = Literal["voice", "sms", "data"]
NotificationChannel = Literal["email", "sms"]


class PayloadPart(BaseModel):
    """Base of the models nested in a payload: same tolerance as the payloads themselves."""

    model_config = ConfigDict(extra="ignore", frozen=True)
