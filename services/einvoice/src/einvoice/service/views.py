"""How channel records and deliveries look to API callers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from einvoice import domain
from einvoice.models import BillingAccount, Delivery, DeliveryChannel
from einvoice.schemas import (
    BankDecisionOut,
    ChannelOut,
    ChannelRequestOut,
    DeliveryItemOut,
    DeliveryOut,
    EmailConfirmedOut,
)


def channel_fields(record: DeliveryChannel) -> dict[str, Any]:
    """The fields of a record that apply to its channel and state (the others stay None
    and are left out of the reply)."""
    fields: dict[str, Any] = {
        "channel": record.channel,
        "status": record.status,
        "scope": record.scope,
        "request_id": record.id,
        "requested_at": record.requested_at,
        "activated_at": record.activated_at,
        "ended_at": record.ended_at,
    }
    if record.channel == "email":
        fields.update(
            email=record.email,
            mobile=record.mobile,
            alerts=list(record.alerts or []),
            locale=record.locale,
        )
        if record.status == domain.PENDING_CONFIRMATION:
            fields["expires_at"] = record.expires_at
    elif record.channel == "bank_app":
        fields.update(
            iban=domain.mask_iban(record.iban) if record.iban else None,
            reference=record.bank_reference,
            effective_from_period=record.effective_from_period,
        )
    return fields


PAPER: dict[str, Any] = {"channel": "paper", "status": "active"}


def channel_view(record: DeliveryChannel | None) -> ChannelOut:
    return ChannelOut.model_validate(channel_fields(record) if record is not None else PAPER)


def channel_request(billing_account_id: uuid.UUID, record: DeliveryChannel) -> ChannelRequestOut:
    return ChannelRequestOut.model_validate(
        {"billing_account_id": billing_account_id, **channel_fields(record)}
    )


def delivery_view(account: BillingAccount, records: Sequence[DeliveryChannel]) -> DeliveryOut:
    """Top level: the customer's latest choice and where it stands (paper/active when
    nothing was chosen or it was cancelled). ``in_force``: where invoices go right now,
    which differs while a new choice awaits confirmation or acceptance."""
    shown = domain.shown(records)
    return DeliveryOut.model_validate(
        {
            "billing_account_id": account.billing_account_id,
            "customer_id": account.customer_id,
            "kind": account.kind,
            **(channel_fields(shown) if shown is not None else PAPER),
            "in_force": channel_view(domain.in_force(records)),
        }
    )


def email_confirmed(record: DeliveryChannel, covered: list[uuid.UUID]) -> EmailConfirmedOut:
    return EmailConfirmedOut.model_validate(
        {
            "billing_account_id": record.billing_account_id,
            "channel": "email",
            "status": record.status,
            "scope": record.scope,
            "alerts": list(record.alerts or []),
            "covered_billing_account_ids": covered,
        }
    )


def bank_decision_view(record: DeliveryChannel) -> BankDecisionOut:
    return BankDecisionOut.model_validate(
        {
            "billing_account_id": record.billing_account_id,
            "channel": "bank_app",
            "status": record.status,
            "reference": record.bank_reference,
            "effective_from_period": record.effective_from_period,
        }
    )


def delivery_item(row: Delivery) -> DeliveryItemOut:
    return DeliveryItemOut.model_validate(row)
