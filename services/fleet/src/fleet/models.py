"""Fleet's tables. Money is Numeric, times are timezone-aware, ids are UUIDs."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from servicekit.db import UTCDateTime, add_kit_tables, new_metadata, utcnow

metadata = new_metadata()
add_kit_tables(metadata)  # outbox + inbox, so the migrations create them


class Base(DeclarativeBase):
    metadata = metadata


class Sim(Base):
    __tablename__ = "sims"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    # A card's ICCID and IMSI never change and are never reused.
    iccid: Mapped[str] = mapped_column(String(20), unique=True)
    imsi: Mapped[str] = mapped_column(String(15), unique=True)
    msisdn: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | deactivated
    tariff_plan: Mapped[str] = mapped_column(String(40))
    end_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    options: Mapped[list[SimOption]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SimOption.code"
    )

    __table_args__ = (
        # A number is recycled after its SIM is deactivated, so it is unique among
        # active SIMs only.
        Index(
            "uq_sims_active_msisdn",
            "msisdn",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index("ix_sims_customer_msisdn", "customer_id", "msisdn"),
    )

    @property
    def option_codes(self) -> list[str]:
        return sorted(o.code for o in self.options)


class SimOption(Base):
    __tablename__ = "sim_options"

    sim_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sims.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SimHistory(Base):
    """Append-only change history of a SIM: who changed what, when, from what to what."""

    __tablename__ = "sim_history"

    # Insertion order, so the history reads in order even when two changes share a
    # timestamp; the public id is the UUID.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    sim_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sims.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    change: Mapped[str] = mapped_column(String(40))
    from_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    to_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    actor_kind: Mapped[str] = mapped_column(String(20))  # user | operator | service | system
    actor_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeviceUse(Base):
    """A device in a SIM for a span of time; the open row (``until`` null) is the current
    one. IMEI, brand and model are stored for company-owned devices only: a personal
    device's details are never shown, so they are not kept either."""

    __tablename__ = "device_uses"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    sim_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sims.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    msisdn: Mapped[str] = mapped_column(String(16))
    ownership: Mapped[str] = mapped_column(String(20))  # company | personal
    imei: Mapped[str | None] = mapped_column(String(15), nullable=True)
    brand: Mapped[str | None] = mapped_column(String(100), nullable=True)
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_device_uses_customer_imei", "customer_id", "imei"),)


class UsageCounter(Base):
    """Rated usage of one SIM in one billing period, per kind (data, voice, sms)."""

    __tablename__ = "usage_counters"

    sim_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sims.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal("0"))
    records: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CountedRecord(Base):
    """Usage records already counted, by the network's record id: billing may publish a
    record again under a new event id (re-rating, replay), which the inbox cannot see."""

    __tablename__ = "counted_records"

    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FleetManager(Base):
    """The fleet-manager application of one customer."""

    __tablename__ = "fleet_managers"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # active | terminated
    sim_count: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TerminatedCustomer(Base):
    """Customers whose agreement ended: no new SIMs for them."""

    __tablename__ = "terminated_customers"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    terminated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CatalogueVersion(Base):
    """A version of the price catalogue as billing published it (``catalogue.published``,
    ADR 0014): the payload as JSON. Orders are checked against the version valid now."""

    __tablename__ = "catalogue_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    """The users of the customers, as identity announced them (``user.created``,
    ``user.deactivated``): a SIM's end user must be an active service user of the SIM's
    customer (ADR 0020)."""

    __tablename__ = "users"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    profile: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))  # active | deactivated
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
