"""Tables of the einvoice service."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint, Uuid, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import UTCDateTime, add_kit_tables, new_metadata, utcnow

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class BillingAccount(Base):
    """What we learnt from billing about an account. Customer and kind never change, so
    this copy spares billing a call on every request and on every invoice."""

    __tablename__ = "billing_accounts"

    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(10))
    # Display name for the confirmation mail; may change at billing, refreshed when seen.
    name: Mapped[str | None] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


_LIVE_ACTIVE = "status = 'active'"
_LIVE_PENDING = "status IN ('pending_confirmation', 'pending_bank_acceptance')"


class DeliveryChannel(Base):
    """One request for an e-invoice channel and its life (see ``domain``)."""

    __tablename__ = "delivery_channels"
    __table_args__ = (
        # Safety net for the rule the use cases keep: one active channel per scope and
        # one pending request per scope and channel (a new request supersedes the old).
        Index(
            "uq_delivery_channels_active_scope",
            "scope_key",
            unique=True,
            postgresql_where=text(_LIVE_ACTIVE),
            sqlite_where=text(_LIVE_ACTIVE),
        ),
        Index(
            "uq_delivery_channels_pending_scope",
            "scope_key",
            "channel",
            unique=True,
            postgresql_where=text(_LIVE_PENDING),
            sqlite_where=text(_LIVE_PENDING),
        ),
        Index("ix_delivery_channels_customer_status", "customer_id", "status"),
        Index("ix_delivery_channels_expiry", "status", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    scope: Mapped[str] = mapped_column(String(20))
    scope_key: Mapped[str] = mapped_column(String(60))
    # The account the request was made on (for a customer-wide one: the first of many).
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    account_kind: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(20))
    alerts: Mapped[list[str]] = mapped_column(JSON, default=list)
    locale: Mapped[str] = mapped_column(String(2), default="nl")
    iban: Mapped[str | None] = mapped_column(String(34))
    bank_reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    effective_from_period: Mapped[str | None] = mapped_column(String(7))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Delivery(Base):
    """The delivery log: one row per invoice and channel it went out on."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("invoice_id", "channel", name="uq_deliveries_invoice_channel"),
        Index("ix_deliveries_account_time", "billing_account_id", "delivered_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    invoice_number: Mapped[str] = mapped_column(String(64))
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    period: Mapped[str] = mapped_column(String(7))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(30))
    channel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Ids of the notification.requested written (e-mail, then the SMS alert if chosen).
    notification_request_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BankDelivery(Base):
    """An invoice waiting to be handed to the bank adapter. Written in the consumer's
    transaction; the bank is called later by the bank-delivery job, never from inside the
    consumer (whose batch may roll back or be re-read after a rebalance)."""

    __tablename__ = "bank_deliveries"
    __table_args__ = (Index("ix_bank_deliveries_due", "next_attempt_at"),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    reference: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PeppolDelivery(Base):
    """An invoice waiting to be sent to the customer's Peppol participant through the
    access point: written in the consumer's transaction, sent by the Peppol-delivery job
    (as bank deliveries are)."""

    __tablename__ = "peppol_deliveries"
    __table_args__ = (Index("ix_peppol_deliveries_due", "next_attempt_at"),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


add_kit_tables(metadata)
