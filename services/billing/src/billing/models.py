"""Billing tables. Money is Numeric(14, 2) (cents); times are aware UTC."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
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
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import UTCDateTime, add_kit_tables, new_metadata, utcnow

metadata = new_metadata()
add_kit_tables(metadata)

Money = Numeric(14, 2)


class Base(DeclarativeBase):
    metadata = metadata


class BillingAccount(Base):
    __tablename__ = "billing_accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(10))  # fixed | mobile
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | terminated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Sim(Base):
    """Projection of fleet's ``sim.changed``: which line is on which account, and its fee."""

    __tablename__ = "sims"

    sim_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    msisdn: Mapped[str] = mapped_column(String(20), index=True)
    tariff_plan: Mapped[str] = mapped_column(String(50))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    # From the event when fleet sends it; else priced from our list at billing time.
    monthly_fee: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | deactivated
    active_since: Mapped[datetime] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimHistory(Base):
    """Every ``sim.changed`` billing applied: what the SIM had from ``changed_at`` on, so
    fees are prorated by day and allowances follow the plan and options of the moment."""

    __tablename__ = "sim_history"
    __table_args__ = (Index("ix_sim_history_sim_changed", "sim_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    sim_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    change: Mapped[str] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean)
    tariff_plan: Mapped[str] = mapped_column(String(50))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CatalogueVersionRow(Base):
    """Each version of the price catalogue billing published (ADR 0014); the document is
    ``billing.domain.catalogue``'s, as in ``seed.json``."""

    __tablename__ = "catalogue_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageRecord(Base):
    """A rated CDR. Records to free/emergency numbers are never stored here.

    ``amount`` is the standard price until the record is invoiced; the invoice then
    stores what the contract charges for it (allowances, options), which call details,
    insights and the invoice lines show, so they always agree."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_account_invoice_started", "billing_account_id", "invoice_id",
              "started_at"),
        Index("ix_usage_records_customer_period", "customer_id", "period"),
        # Records by invoice (call details, an invoice's deletion): only invoiced ones,
        # so ingesting a record adds no entry here.
        Index("ix_usage_records_invoice_id", "invoice_id",
              postgresql_where=text("invoice_id IS NOT NULL"),
              sqlite_where=text("invoice_id IS NOT NULL")),
    )  # fmt: skip

    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    billing_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billing_accounts.id", ondelete="CASCADE")
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    line: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))  # voice | sms | data
    destination: Mapped[str] = mapped_column(String(200))
    zone: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Money)
    period: Mapped[str] = mapped_column(String(7))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("invoices.id", ondelete="CASCADE")
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExcludedRecord(Base):
    """Only the id of a record to a free/emergency number, so a redelivery is recognised
    as a duplicate. Nothing else about such a call is kept (art. 110 §3)."""

    __tablename__ = "excluded_records"

    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BillingRun(Base):
    __tablename__ = "billing_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    period: Mapped[str] = mapped_column(String(7))
    requested_account_ids: Mapped[list[str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    total_accounts: Mapped[int] = mapped_column(Integer, default=0)
    done_accounts: Mapped[int] = mapped_column(Integer, default=0)
    failed_accounts: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str | None] = mapped_column(String(100))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The trace of the request that asked for the run: the worker continues it, so the
    # invoices' events (invoice.closed) belong to that request's trace.
    trace_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)


class ScheduledPeriod(Base):
    """A period the scheduler has asked to close: at most one scheduled run per period,
    whichever instance (and however many) runs the scheduler."""

    __tablename__ = "billing_scheduled_periods"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BillingRunAccount(Base):
    """One account of a run: lets a resumed run skip what is done."""

    __tablename__ = "billing_run_accounts"

    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billing_runs.id", ondelete="CASCADE"), primary_key=True
    )
    billing_account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|failed
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    error: Mapped[str | None] = mapped_column(String(500))


class Customer(Base):
    """Projection of identity's ``customer.registered``: what an invoice prints about the
    customer (Belgian VAT Code art. 53: name, address, VAT number) and its language."""

    __tablename__ = "customers"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    enterprise_number: Mapped[str] = mapped_column(String(10))
    company_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    language: Mapped[str | None] = mapped_column(String(2))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Invoice(Base):
    """An invoice, or a credit note (``kind``) that corrects one: both are numbered
    documents with their own id, lines, PDF and UBL document."""

    __tablename__ = "invoices"
    # One invoice (and at most one credit note) per account per period, whatever runs
    # overlap or restart.
    __table_args__ = (UniqueConstraint("billing_account_id", "period", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    billing_account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("billing_accounts.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    account_kind: Mapped[str] = mapped_column(String(10))
    period: Mapped[str] = mapped_column(String(7))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_date: Mapped[date] = mapped_column(Date)
    objection_deadline: Mapped[date] = mapped_column(Date)
    total_excl_vat: Mapped[Decimal] = mapped_column(Money)
    vat: Mapped[Decimal] = mapped_column(Money)
    total_incl_vat: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Set when retention removed the invoice's data (lines, objections) and kept only its
    # header and PDF: fixed-line accounts, between 12 and 24 months after issue.
    details_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(12), default="invoice")  # invoice | credit_note
    corrects_invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    # The legal mentions as issued (never re-read from settings or the customer later):
    # {"supplier": Party, "customer": Party, "iban", "bic"}; null on invoices issued before.
    language: Mapped[str | None] = mapped_column(String(2))
    payment_reference: Mapped[str | None] = mapped_column(String(24))
    parties: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money)


class InvoicePdf(Base):
    """Kept apart from the invoice: read rarely, retained on its own schedule."""

    __tablename__ = "invoice_pdfs"

    invoice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoiceUbl(Base):
    """The Peppol BIS Billing 3.0 document (UBL 2.1 Invoice or CreditNote)."""

    __tablename__ = "invoice_ubl"

    invoice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CreditNoteSequence(Base):
    """Consecutive credit note numbers per year: their own series, gapless like invoices'."""

    __tablename__ = "credit_note_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class InvoiceSequence(Base):
    """Consecutive invoice numbers per year; bumped in the invoice's own transaction so
    a rolled-back invoice leaves no gap."""

    __tablename__ = "invoice_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class Objection(Base):
    __tablename__ = "objections"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    reason: Mapped[str] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|accepted|rejected
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
