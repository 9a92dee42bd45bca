"""How channel records and deliveries look to API callers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from einvoice import domain
from einvoice.models import BillingAccount, Delivery, DeliveryChannel


def channel_fields(record: DeliveryChannel) -> dict[str, Any]:
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
    else:
        fields.update(
            iban=domain.mask_iban(record.iban) if record.iban else None,
            reference=record.bank_reference,
            effective_from_period=record.effective_from_period,
        )
    return {k: v for k, v in fields.items() if v is not None}


PAPER: dict[str, Any] = {"channel": "paper", "status": "active"}


def delivery_view(account: BillingAccount, records: Sequence[DeliveryChannel]) -> dict[str, Any]:
    """Top level: the customer's latest choice and where it stands (paper/active when
    nothing was chosen or it was cancelled). ``in_force``: where invoices go right now,
    which differs while a new choice awaits confirmation or acceptance."""
    shown = domain.shown(records)
    force = domain.in_force(records)
    view: dict[str, Any] = {
        "billing_account_id": account.billing_account_id,
        "customer_id": account.customer_id,
        "kind": account.kind,
    }
    view.update(channel_fields(shown) if shown is not None else PAPER)
    view["in_force"] = channel_fields(force) if force is not None else dict(PAPER)
    return view


def delivery_item(row: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": row.id,
        "invoice_id": row.invoice_id,
        "invoice_number": row.invoice_number,
        "billing_account_id": row.billing_account_id,
        "period": row.period,
        "channel": row.channel,
        "status": row.status,
        "notification_request_ids": list(row.notification_request_ids or []),
        "delivered_at": row.delivered_at,
    }
