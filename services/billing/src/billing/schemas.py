"""Request bodies and the use cases' results (the response bodies). Money is a decimal
string on the wire."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from billing.models import BillingAccount, BillingRun, Invoice, Objection, UsageRecord
from contracts.events.billing import UsageRecordV1
from contracts.types import Money

MAX_USAGE_RECORDS = 5000


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(In):
    customer_id: UUID
    kind: Literal["fixed", "mobile"]
    name: str = Field(min_length=1, max_length=200)


class AccountCreated(BaseModel):
    billing_account_id: UUID


class AccountOut(BaseModel):
    billing_account_id: UUID
    customer_id: UUID
    kind: str
    name: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, a: BillingAccount) -> AccountOut:
        return cls(
            billing_account_id=a.id,
            customer_id=a.customer_id,
            kind=a.kind,
            name=a.name,
            status=a.status,
            created_at=a.created_at,
        )


class UsageBatchIn(In):
    records: list[UsageRecordV1] = Field(min_length=1, max_length=MAX_USAGE_RECORDS)


class UsageAccepted(BaseModel):
    accepted: int = Field(description="New records taken in (including excluded ones).")
    duplicates: int = Field(description="Records already known by record_id.")
    excluded: int = Field(description="Of the accepted: calls to free/emergency numbers.")


class UsageItem(BaseModel):
    record_id: str
    line: str
    kind: str
    destination: str
    zone: str
    started_at: datetime
    quantity: int = Field(description="Seconds (voice), messages (sms) or bytes (data).")
    amount: Money
    period: str

    @classmethod
    def of(cls, u: UsageRecord) -> UsageItem:
        return cls(
            record_id=u.record_id,
            line=u.line,
            kind=u.kind,
            destination=u.destination,
            zone=u.zone,
            started_at=u.started_at,
            quantity=u.quantity,
            amount=u.amount,
            period=u.period,
        )


class KindTotals(BaseModel):
    records: int
    quantity: int
    amount: Money


class UsageTotals(BaseModel):
    total_excl_vat: Money
    by_kind: dict[str, KindTotals]


class UnbilledUsage(BaseModel):
    billing_account_id: UUID
    items: list[UsageItem]
    totals: UsageTotals
    next_cursor: str | None


class RunIn(In):
    period: str = Field(description="YYYY-MM; must have ended.", examples=["2026-10"])
    billing_account_ids: list[UUID] | None = Field(default=None, max_length=100_000)


class RunCreated(BaseModel):
    run_id: UUID
    status: str


class RunOut(BaseModel):
    run_id: UUID
    period: str
    status: Literal["pending", "running", "done", "failed"]
    done_accounts: int
    failed_accounts: int
    total_accounts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: BillingRun) -> RunOut:
        return cls(
            run_id=run.id,
            period=run.period,
            status=run.status,
            done_accounts=run.done_accounts,
            failed_accounts=run.failed_accounts,
            total_accounts=run.total_accounts,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


class InvoiceTotals(BaseModel):
    total_excl_vat: Money
    vat: Money
    total_incl_vat: Money


class InvoiceSummary(BaseModel):
    invoice_id: UUID
    number: str
    billing_account_id: UUID
    period: str
    totals: InvoiceTotals
    issued_at: datetime
    due_date: date
    objection_deadline: date
    currency: str
    pdf_only: bool = Field(
        description="True when retention has removed the invoice's lines and details and "
        "kept only its PDF (fixed-line accounts, 12 to 24 months after issue).",
    )
    kind: Literal["invoice", "credit_note"] = Field(
        default="invoice", description="A credit note corrects the invoice it names."
    )
    corrects_invoice_id: UUID | None = Field(
        default=None, description="For a credit note: the invoice it corrects."
    )

    @classmethod
    def of(cls, inv: Invoice | Row[Any]) -> InvoiceSummary:
        """From an invoice, or a row with its attribute names (the list's query)."""
        return cls(
            invoice_id=inv.id,
            number=inv.number,
            billing_account_id=inv.billing_account_id,
            period=inv.period,
            totals=InvoiceTotals(
                total_excl_vat=inv.total_excl_vat, vat=inv.vat, total_incl_vat=inv.total_incl_vat
            ),
            issued_at=inv.issued_at,
            due_date=inv.due_date,
            objection_deadline=inv.objection_deadline,
            currency=inv.currency,
            pdf_only=inv.details_removed_at is not None,
            kind="credit_note" if inv.kind == "credit_note" else "invoice",
            corrects_invoice_id=inv.corrects_invoice_id,
        )


class InvoiceLineOut(BaseModel):
    position: int
    category: str
    description: str
    quantity: int
    unit: str
    unit_price: Money = Field(description="Price of one unit excl. VAT (up to 6 decimals).")
    vat_rate: Money = Field(description='VAT rate in percent, e.g. "21".')
    amount_excl_vat: Money


class ObjectionStatusOut(BaseModel):
    objection_id: UUID
    status: Literal["open", "accepted", "rejected"]
    created_at: datetime
    decided_at: datetime | None = None
    credit_note_id: UUID | None = None


class InvoiceOut(InvoiceSummary):
    customer_id: UUID
    lines: list[InvoiceLineOut]
    payment_reference: str | None = Field(
        default=None,
        description="Belgian structured communication to pay with, +++123/4567/89012+++ "
        "(invoices only).",
    )
    language: Literal["nl", "fr", "en"] | None = None
    objection: ObjectionStatusOut | None = Field(
        default=None, description="The latest objection to this invoice, if any."
    )
    credit_note_id: UUID | None = Field(
        default=None, description="The credit note issued for this invoice, if any."
    )


class InvoiceUsage(BaseModel):
    invoice_id: UUID
    items: list[UsageItem]
    next_cursor: str | None


class ObjectionIn(In):
    reason: str = Field(min_length=1, max_length=4000)


class ObjectionDecisionIn(In):
    reason: str = Field(min_length=1, max_length=4000)


class ObjectionOut(BaseModel):
    objection_id: UUID
    invoice_id: UUID
    invoice_number: str
    customer_id: UUID
    billing_account_id: UUID
    status: Literal["open", "accepted", "rejected"]
    reason: str
    created_at: datetime
    objection_deadline: date
    decided_at: datetime | None = None
    decision_reason: str | None = None
    credit_note_id: UUID | None = None

    @classmethod
    def of(cls, objection: Objection, inv: Invoice) -> ObjectionOut:
        status: Literal["open", "accepted", "rejected"] = (
            "accepted"
            if objection.status == "accepted"
            else "rejected"
            if objection.status == "rejected"
            else "open"
        )
        return cls(
            objection_id=objection.id,
            invoice_id=inv.id,
            invoice_number=inv.number,
            customer_id=inv.customer_id,
            billing_account_id=inv.billing_account_id,
            status=status,
            reason=objection.reason,
            created_at=objection.created_at,
            objection_deadline=inv.objection_deadline,
            decided_at=objection.decided_at,
            decision_reason=objection.decision_reason,
            credit_note_id=objection.credit_note_id,
        )


# -- insights ------------------------------------------------------------------------


class Totals(BaseModel):
    invoices: int
    total_excl_vat: Money
    vat: Money
    total_incl_vat: Money


class Month(Totals):
    period: str


class UsageMonth(BaseModel):
    """Invoiced usage of a period, after the line, kind and zone filters."""

    period: str
    records: int
    amount: Money


class Category(BaseModel):
    category: str
    amount: Money


class KindUsage(BaseModel):
    records: int
    quantity: int
    amount: Money


class LineUsage(BaseModel):
    line: str
    amount: Money
    records: int
    by_kind: dict[str, KindUsage]


class Consumer(BaseModel):
    line: str
    amount: Money


class Insights(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    customer_id: UUID
    from_: str = Field(alias="from")
    to: str
    totals: Totals
    by_month: list[Month]
    usage_by_month: list[UsageMonth]
    by_category: list[Category]
    by_line: list[LineUsage]
    top_consumers: list[Consumer]
