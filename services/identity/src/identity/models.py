"""Identity's tables. Times are aware UTC; ids are UUIDs."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from identity.domain import NoticeBy
from servicekit.db import UTCDateTime, add_kit_tables, new_metadata, utcnow

metadata = new_metadata()
add_kit_tables(metadata)

Timestamp = UTCDateTime()


class Base(DeclarativeBase):
    metadata = metadata


class Registration(Base):
    """A customer's registration form, waiting for operator staff [2.2.1]."""

    __tablename__ = "registrations"
    __table_args__ = (
        # At most one open registration per enterprise number (the 409 is also checked
        # in the use case; this closes the race between two concurrent submissions).
        Index(
            "uq_registrations_pending_enterprise_number",
            "enterprise_number",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_registrations_status_created", "status", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Allocated at submission so the registrant can quote it; the customer row itself
    # exists only once the registration is accepted.
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    status: Mapped[str] = mapped_column(String(20))  # pending | accepted | rejected
    enterprise_number: Mapped[str] = mapped_column(String(10))
    company_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    contact_email: Mapped[str] = mapped_column(String(254))
    wants_access_owner: Mapped[bool] = mapped_column(Boolean)
    affiliates: Mapped[list[str]] = mapped_column(JSON)
    registrant_email: Mapped[str] = mapped_column(String(254), index=True)
    registrant_first_name: Mapped[str] = mapped_column(String(100))
    registrant_last_name: Mapped[str] = mapped_column(String(100))
    registrant_locale: Mapped[str] = mapped_column(String(2))
    # argon2id hash, kept only until the decision (moved to credentials on acceptance).
    registrant_password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(Timestamp)
    decided_by: Mapped[str | None] = mapped_column(String(64))


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index(
            "uq_customers_active_enterprise_number",
            "enterprise_number",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrations.id"))
    status: Mapped[str] = mapped_column(String(20))  # active | terminated
    enterprise_number: Mapped[str] = mapped_column(String(10))
    company_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    contact_email: Mapped[str] = mapped_column(String(254))
    wants_access_owner: Mapped[bool] = mapped_column(Boolean)
    affiliates: Mapped[list[str]] = mapped_column(JSON)
    # [9.1] The customers operator staff confirmed as affiliates when accepting (ids as
    # text); a listed number alone confers nothing.
    confirmed_affiliates: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    accepted_at: Mapped[datetime] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    terminated_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Termination(Base):
    """Notice of termination of a customer's agreement [2.2.2].

    ``terminating`` until its effective day, when the termination job makes it
    ``terminated`` (and the customer with it); ``withdrawn`` if called off before.
    """

    __tablename__ = "terminations"
    __table_args__ = (
        # At most one pending notice per customer (the 409 is also checked in the use
        # case; this closes the race between two concurrent requests).
        Index(
            "uq_terminations_pending_customer",
            "customer_id",
            unique=True,
            postgresql_where=text("status = 'terminating'"),
            sqlite_where=text("status = 'terminating'"),
        ),
        # What the job looks for: pending notices whose day has come.
        Index("ix_terminations_status_effective_on", "status", "effective_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    by: Mapped[NoticeBy] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))  # terminating | terminated | withdrawn
    requested_at: Mapped[datetime] = mapped_column(Timestamp)
    requested_by: Mapped[str] = mapped_column(String(64))  # user id of the actor
    effective_on: Mapped[date] = mapped_column(Date)
    withdrawn_at: Mapped[datetime | None] = mapped_column(Timestamp)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))
    terminated_at: Mapped[datetime | None] = mapped_column(Timestamp)


class User(Base):
    """Portal users of a customer, and operator staff (kind ``operator``, no customer)."""

    __tablename__ = "users"
    __table_args__ = (Index("ix_users_customer_created", "customer_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # user | operator
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"))
    # Lowercased; the login name.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(2))
    mobile: Mapped[str | None] = mapped_column(String(16))
    # invited | pending_confirmation | active | deactivated
    status: Mapped[str] = mapped_column(String(30))
    profile: Mapped[str | None] = mapped_column(String(30))
    subprofiles: Mapped[list[str]] = mapped_column(JSON, default=list)
    contract_kind: Mapped[str | None] = mapped_column(String(30))
    contract_ends_on: Mapped[date | None] = mapped_column(Date)
    registrant: Mapped[bool] = mapped_column(Boolean, default=False)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_login_at: Mapped[datetime | None] = mapped_column(Timestamp)
    deactivated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    deactivation_reason: Mapped[str | None] = mapped_column(String(40))


class Credential(Base):
    """A user's password (argon2id). Invited users have none until they confirm."""

    __tablename__ = "credentials"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class ConfirmationToken(Base):
    """One-time confirmation links; only the SHA-256 of the token is stored."""

    __tablename__ = "confirmation_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))  # user_confirmation
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class RefreshFamily(Base):
    """All refresh tokens descending from one login; revoked together."""

    __tablename__ = "refresh_families"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("refresh_families.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class SigningKey(Base):
    """EC P-256 signing keys; the private half encrypted with the key passphrase."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        # One active key at a time, even when several instances start together.
        Index(
            "uq_signing_keys_active",
            "status",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # active | retired
    algorithm: Mapped[str] = mapped_column(String(10), default="ES256")
    private_key_pem: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(Timestamp)


class AuditEntry(Base):
    """Append-only, hash-chained security log [14.2].

    ``seq`` is the position in the chain and the primary key (not autoincrement): two
    writers that raced for the same position cannot both commit, so the chain never forks.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    action: Mapped[str] = mapped_column(String(60), index=True)
    actor: Mapped[str | None] = mapped_column(String(64))  # user id, client id, or null
    subject: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def hashed_content(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": str(self.id),
            "occurred_at": self.occurred_at,
            "action": self.action,
            "actor": self.actor,
            "subject": self.subject,
            "customer_id": self.customer_id,
            "details": self.details,
        }


class CustomerAuditEvent(Base):
    """One entry of a customer's audit trail of rights [14.2], from ``audit.recorded``.

    One hash chain per customer: ``seq`` counts from 1 within the customer and is half of
    the primary key, so two writers that raced for the same position cannot both commit
    (the chain never forks). Append-only: no code path updates or deletes a row, and on
    PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE (SQLite: triggers refuse
    UPDATE and DELETE; the hash chain detects what a file editor changes).
    """

    __tablename__ = "customer_audit_events"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    audit_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    at: Mapped[datetime] = mapped_column(Timestamp)
    source: Mapped[str] = mapped_column(String(20))
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[dict[str, str]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(Timestamp)  # arrival; not hashed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_customer_audit_events_customer_id_at", "customer_id", "at"),)

    def hashed_content(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "audit_id": str(self.audit_id),
            "customer_id": str(self.customer_id),
            "at": self.at,
            "source": self.source,
            "actor": {"kind": self.actor_kind, "id": self.actor_id},
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


__all__ = [
    "AuditEntry",
    "Base",
    "ConfirmationToken",
    "Credential",
    "Customer",
    "CustomerAuditEvent",
    "RefreshFamily",
    "RefreshToken",
    "Registration",
    "SigningKey",
    "Termination",
    "User",
    "metadata",
]
