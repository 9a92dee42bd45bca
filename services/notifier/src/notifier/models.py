"""Tables of the notifier: the recipient directory and the notifications (delivery log)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import UTCDateTime, add_kit_tables, new_metadata, utcnow

metadata = new_metadata()
add_kit_tables(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class Recipient(Base):
    """Projection of identity's user events: where and in which language to reach a user."""

    __tablename__ = "recipients"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    # Null only for a user whose user.deactivated overtook its user.created.
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(20))
    locale: Mapped[str] = mapped_column(String(2), default="nl")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Notification(Base):
    """One message to one recipient for one request; its status is the delivery log.

    ``dedupe_key`` (request id + channel + recipient) is unique: a request delivered twice,
    even under another event id, can never create a second message. A resend is a new
    row pointing at the original through ``resend_of``, so the history stays.
    """

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    source_event_id: Mapped[str | None] = mapped_column(String(64), index=True)
    source_event_type: Mapped[str | None] = mapped_column(String(100))
    resend_of: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("notifications.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    recipient_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    channel: Mapped[str] = mapped_column(String(10))
    template: Mapped[str] = mapped_column(String(100))
    # The language asked for by the producer; the directory's may replace it.
    requested_locale: Mapped[str] = mapped_column(String(2))
    locale: Mapped[str | None] = mapped_column(String(2))
    # What the request said (kept so a resend can resolve the recipient again).
    requested_email: Mapped[str | None] = mapped_column(String(254))
    requested_mobile: Mapped[str | None] = mapped_column(String(20))
    # Where it goes: null while waiting for the recipient's user.created.
    to_address: Mapped[str | None] = mapped_column(String(254))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    status: Mapped[str] = mapped_column(String(30))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # W3C trace context of the request, so the send and its outcome event join its trace.
    trace_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # When the one-time links were removed from ``params`` (retention).
    params_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The sender's work queue: due rows by status and time.
        Index("ix_notifications_due", "status", "next_attempt_at"),
        # The operator list, newest first.
        Index("ix_notifications_created", "created_at", "id"),
    )


# The operator list looks addresses up case-insensitively.
Index("ix_notifications_to_address_lower", func.lower(Notification.to_address))
