"""Request and response bodies. Money is a decimal string on the wire."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

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


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None


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


class InvoicePage(BaseModel):
    items: list[InvoiceSummary]
    next_cursor: str | None


class InvoiceLineOut(BaseModel):
    position: int
    category: str
    description: str
    quantity: int
    unit: str
    amount_excl_vat: Money


class InvoiceOut(InvoiceSummary):
    customer_id: UUID
    lines: list[InvoiceLineOut]


class InvoiceUsage(BaseModel):
    invoice_id: UUID
    items: list[UsageItem]
    next_cursor: str | None


class ObjectionIn(In):
    reason: str = Field(min_length=1, max_length=4000)


class ObjectionOut(BaseModel):
    objection_id: UUID
    invoice_id: UUID
    status: str
    created_at: datetime
    objection_deadline: date
