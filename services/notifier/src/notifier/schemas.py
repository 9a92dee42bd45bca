"""What the operator routes return: the delivery log as support staff may see it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.events.notification import TEMPLATE_NAME_PATTERN
from notifier.domain import IN_PROGRESS, mask_address
from notifier.models import Notification

StatusName = Literal["pending", "waiting_for_recipient", "sending", "sent", "failed"]


class NotificationOut(BaseModel):
    notification_id: UUID
    request_id: UUID | None
    source_event_id: str | None
    resend_of: UUID | None
    customer_id: UUID
    recipient_user_id: UUID | None
    to: str | None = None
    channel: Literal["email", "sms"]
    template: str
    locale: str | None
    status: StatusName
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        # ``to`` is masked: the log is for support, not for harvesting addresses.
        return cls.model_validate(
            {
                "notification_id": n.id,
                "request_id": n.request_id,
                "source_event_id": n.source_event_id,
                "resend_of": n.resend_of,
                "customer_id": n.customer_id,
                "recipient_user_id": n.recipient_user_id,
                "to": mask_address(n.to_address),
                "channel": n.channel,
                "template": n.template,
                "locale": n.locale,
                "status": n.status,
                "attempts": n.attempts,
                "last_error": n.last_error,
                "next_attempt_at": n.next_attempt_at if n.status in IN_PROGRESS else None,
                "created_at": n.created_at,
                "sent_at": n.sent_at,
                "failed_at": n.failed_at,
            }
        )


class BulkResendIn(BaseModel):
    """Which failed notifications to send again, e.g. those a provider outage failed."""

    model_config = ConfigDict(extra="forbid")

    failed_since: AwareDatetime
    failed_until: AwareDatetime | None = None
    channel: Literal["email", "sms"] | None = None
    template: str | None = Field(default=None, pattern=TEMPLATE_NAME_PATTERN, max_length=64)
    limit: int = Field(default=500, ge=1, le=1000)


class BulkResendOut(BaseModel):
    resent: list[UUID]  # the new notifications, each linked to its original (resend_of)
    skipped: int  # already resent, or their one-time link is gone: resend those one by one
