"""Test data for the notifier: requests and directory events with fresh ids, addresses
and one-time links, so tests sharing a database, a Kafka topic or a mail sink never see
each other's messages. Pass a keyword to pin what a test asserts on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from contracts.events.identity import ContractV1, UserCreatedV1, UserDeactivatedV1
from contracts.events.notification import (
    AttachmentRefV1,
    NotificationRequestedV1,
    RecipientV1,
)


def suffix() -> str:
    return uuid.uuid4().hex[:12]


def unique_email(name: str = "anne", domain: str = "acme.example") -> str:
    return f"{name}-{suffix()}@{domain}"


def unique_mobile() -> str:
    return "+3247" + str(uuid.uuid4().int)[:7]


def confirm_url() -> str:
    return f"https://portal.example/v1/users/confirm?token={suffix()}"


def confirmation_request(**kw: Any) -> NotificationRequestedV1:
    """A user_confirmation e-mail, in English, to a fresh address."""
    data: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "channel": "email",
        "template": "user_confirmation",
        "locale": "en",
        "to": RecipientV1(email=unique_email()),
        "params": {"confirm_url": confirm_url(), "first_name": "Anne"},
    }
    data.update(kw)
    return NotificationRequestedV1(**data)


def invoice_sms_request(mobile: str | None = None, **kw: Any) -> NotificationRequestedV1:
    data: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "channel": "sms",
        "template": "invoice_available_sms",
        "locale": "en",
        "to": RecipientV1(mobile=mobile or unique_mobile()),
        "params": {
            "invoice_number": "F2026-9",
            "total_incl_vat": "60.50",
            "due_date": "2026-12-15",
        },
    }
    data.update(kw)
    return NotificationRequestedV1(**data)


def invoice_mail_request(invoice_id: uuid.UUID, **kw: Any) -> NotificationRequestedV1:
    """An invoice_available e-mail with the invoice's PDF attached."""
    data: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "channel": "email",
        "template": "invoice_available",
        "locale": "en",
        "to": RecipientV1(email=unique_email()),
        "params": {
            "invoice_number": "F2026-1",
            "period": "2026-10",
            "total_incl_vat": "121.00",
            "due_date": "2026-11-30",
        },
        "attachments": [AttachmentRefV1(kind="invoice_pdf", invoice_id=invoice_id)],
    }
    data.update(kw)
    return NotificationRequestedV1(**data)


def sim_change_request(user_id: uuid.UUID, **kw: Any) -> NotificationRequestedV1:
    """A sim_change_confirmation addressed by user id only: it waits for user.created."""
    data: dict[str, Any] = {
        "request_id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "channel": "email",
        "template": "sim_change_confirmation",
        "locale": "nl",
        "to": RecipientV1(user_id=user_id),
        "params": {"msisdn": "+32470123456", "change": "tariff_plan_changed", "tariff_plan": "PRO"},
    }
    data.update(kw)
    return NotificationRequestedV1(**data)


def user_created(
    user_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    **kw: Any,
) -> UserCreatedV1:
    user_id = user_id or uuid.uuid4()
    data: dict[str, Any] = {
        "user_id": user_id,
        "customer_id": customer_id or uuid.uuid4(),
        "email": f"user-{user_id}@acme.example",
        "first_name": "Anne",
        "last_name": "Dupont",
        "locale": "nl",
        "mobile": unique_mobile(),
        "profile": "portal_user",
        "contract": ContractV1(kind="employee"),
        "registrant": False,
        "created_at": datetime.now(UTC),
    }
    data.update(kw)
    return UserCreatedV1(**data)


def user_deactivated(user_id: uuid.UUID, customer_id: uuid.UUID, **kw: Any) -> UserDeactivatedV1:
    data: dict[str, Any] = {
        "user_id": user_id,
        "customer_id": customer_id,
        "reason": "removed",
        "deactivated_at": datetime.now(UTC),
    }
    data.update(kw)
    return UserDeactivatedV1(**data)
