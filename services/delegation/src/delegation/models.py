"""Delegation's tables. Customers, users and SIMs are local projections of other
services' events (identity, fleet); assignments and third-party delegations are ours.

Lists inside an assignment (subprofiles, scope, permissions) are JSON: a person holds a
handful of assignments, a decision loads them all at once and the rules read them in
Python, so nothing ever filters on their content in SQL.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Index,
    PrimaryKeyConstraint,
    String,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import UTCDateTime, add_kit_tables, new_metadata, utcnow

metadata = new_metadata()
add_kit_tables(metadata)

# A NULL list means "the whole customer"; an empty list means "nothing": keep them apart.
NullableJSON = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = metadata


class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Null until customer.registered arrives (a user event may come first).
    enterprise_number: Mapped[str | None] = mapped_column(String(10), index=True)
    company_name: Mapped[str | None] = mapped_column(String(300))
    wants_access_owner: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20), default="active")
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Affiliate(Base):
    """[9.1] An affiliated company listed at registration, known by enterprise number.
    Informational: a listed number confers nothing (``AffiliateLink`` does)."""

    __tablename__ = "customer_affiliates"
    __table_args__ = (PrimaryKeyConstraint("customer_id", "enterprise_number"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    enterprise_number: Mapped[str] = mapped_column(String(10), index=True)


class AffiliateLink(Base):
    """[9.1] A customer operator staff confirmed as an affiliate of ``parent_id`` when
    accepting the parent's registration: the parent's access owner owns it too. Only
    ``customer.registered``'s ``confirmed_affiliates`` creates one, never a later
    registration under a listed number."""

    __tablename__ = "affiliate_links"
    __table_args__ = (PrimaryKeyConstraint("parent_id", "affiliate_id"),)

    parent_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    affiliate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    profile: Mapped[str | None] = mapped_column(String(30))
    # Null until user.created arrives (user.deactivated may come first).
    contract_kind: Mapped[str | None] = mapped_column(String(30))
    contract_ends_on: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        # A decision loads a person's active assignments; admin pages a customer's.
        Index("ix_assignments_user_status", "user_id", "status"),
        Index("ix_assignments_customer_status", "customer_id", "status", "granted_at"),
    )

    assignment_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # whose data the rights are on
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    profile: Mapped[str] = mapped_column(String(30))
    subprofiles: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope_applications: Mapped[list[str] | None] = mapped_column(NullableJSON)
    scope_billing_accounts: Mapped[list[str] | None] = mapped_column(NullableJSON)
    scope_sims: Mapped[list[str] | None] = mapped_column(NullableJSON)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    third_party: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="active")
    # "user.created", "api", "third_party_delegation"
    source: Mapped[str] = mapped_column(String(40))
    granted_by: Mapped[str | None] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(60))


class Sim(Base):
    """Projection of fleet's ``sim.changed``: who uses which SIM [8.6]."""

    __tablename__ = "sims"

    sim_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    end_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ThirdPartyDelegation(Base):
    """[9.2] Asked by the access owner, decided by operator staff; no effect until
    approved (approval creates a third-party assignment)."""

    __tablename__ = "third_party_delegations"
    __table_args__ = (
        Index("ix_third_party_delegations_customer", "customer_id", "requested_at"),
        Index("ix_third_party_delegations_status", "status", "requested_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    grantee_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    scope_applications: Mapped[list[str] | None] = mapped_column(NullableJSON)
    scope_billing_accounts: Mapped[list[str] | None] = mapped_column(NullableJSON)
    scope_sims: Mapped[list[str] | None] = mapped_column(NullableJSON)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # pending | approved | refused | cancelled
    status: Mapped[str] = mapped_column(String(20), default="pending")
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    assignment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
