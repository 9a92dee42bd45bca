"""Events published by einvoice: the delivery channel of a billing account."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.base import EventPayload

DeliveryChannel = Literal["paper", "email", "bank_app", "peppol"]
ChannelStatus = Literal[
    "pending_confirmation",
    "active",
    "pending_bank_acceptance",
    "cancelled",
    "expired",
    "refused",
]


class EinvoiceChannelChangedV1(EventPayload):
    """The invoice delivery channel of one billing account changed state.

    Public: no e-mail address, no mobile number, no IBAN. One event per billing account,
    also when one activation covers all the customer's fixed billing accounts.
    """

    event_type: ClassVar[str] = "einvoice.channel.changed"
    version: ClassVar[int] = 1

    customer_id: UUID
    billing_account_id: UUID
    channel: DeliveryChannel = Field(description="The channel this status is about.")
    status: ChannelStatus
    alerts: list[Literal["email", "sms"]] = Field(
        default_factory=list, description="How the customer is told of a new invoice."
    )
    changed_at: AwareDatetime

    def subject(self) -> str:
        return str(self.billing_account_id)
