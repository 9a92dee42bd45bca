"""Billing events: closed invoices, rated usage, and the network's usage feed."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal, cast
from uuid import UUID

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from contracts.base import EventPayload
from contracts.types import BillingAccountKind, Money, PayloadPart, Period, UsageKind


class InvoiceTotalsV1(PayloadPart):
    """Invoice totals in EUR; `total_incl_vat` = `total_excl_vat` + `vat`."""

    total_excl_vat: Money
    vat: Money
    total_incl_vat: Money

    @model_validator(mode="after")
    def _adds_up(self) -> InvoiceTotalsV1:
        if self.total_excl_vat + self.vat != self.total_incl_vat:
            raise ValueError("total_incl_vat must equal total_excl_vat + vat")
        return self


class InvoiceClosedV1(EventPayload):
    """A billing period of one billing account was closed: the invoice and its PDF exist
    and the period's billing data may now be shown."""

    event_type: ClassVar[str] = "invoice.closed"
    version: ClassVar[int] = 1

    invoice_id: UUID
    number: str = Field(min_length=1, description="Invoice number printed on the invoice.")
    customer_id: UUID
    billing_account_id: UUID
    billing_account_kind: BillingAccountKind
    period: Period
    issued_at: AwareDatetime
    due_date: date
    objection_deadline: date | None = Field(
        default=None, description="Last day to object in writing (5 Belgian working days)."
    )
    totals: InvoiceTotalsV1
    currency: Literal["EUR"] = "EUR"

    def subject(self) -> str:
        return str(self.invoice_id)


class UsageRatedV1(EventPayload):
    """One usage record rated at the standard price list (no promotions or discounts).

    Superseded by v2 (a batch of records an event); consumers still read v1 events the
    topic retains.

    Records to free or emergency numbers are never published. Carries no destination
    number.
    """

    event_type: ClassVar[str] = "usage.rated"
    version: ClassVar[int] = 1

    record_id: str = Field(min_length=1, description="The network's record id.")
    customer_id: UUID
    billing_account_id: UUID
    sim_id: UUID | None = Field(default=None, description="The SIM of the line, when known.")
    line: str = Field(min_length=1, description="MSISDN (E.164) or fixed number.")
    kind: UsageKind
    started_at: AwareDatetime
    quantity: int = Field(ge=0, description="Seconds (voice), messages (sms) or bytes (data).")
    amount: Money = Field(description="Standard price in EUR excluding VAT.")
    period: Period = Field(description="Billing period the record falls in.")

    def subject(self) -> str:
        return self.record_id


MAX_RATED_PER_EVENT = 1000
"""Records in one ``usage.rated`` v2 event: at most ~600 bytes each in JSON, so an event
stays well below the outbox's limit (servicekit.outbox.MAX_EVENT_BYTES)."""


class RatedUsageV2(PayloadPart):
    """One usage record rated at the standard price list (the fields of v1)."""

    record_id: str = Field(min_length=1, description="The network's record id.")
    customer_id: UUID
    billing_account_id: UUID
    sim_id: UUID | None = Field(default=None, description="The SIM of the line, when known.")
    line: str = Field(min_length=1, description="MSISDN (E.164) or fixed number.")
    kind: UsageKind
    started_at: AwareDatetime
    quantity: int = Field(ge=0, description="Seconds (voice), messages (sms) or bytes (data).")
    amount: Money = Field(description="Standard price in EUR excluding VAT.")
    period: Period = Field(description="Billing period the record falls in.")


class UsageRatedV2(EventPayload):
    """Usage records billing rated and stored together (one ingestion transaction), at the
    standard price list (no promotions or discounts): one event for up to
    ``MAX_RATED_PER_EVENT`` records, of any customers.

    Each record is in exactly one event (billing publishes a record when it first stores
    it). Records to free or emergency numbers are never published; no destination number.
    Keyed by ``batch_id``: batches spread over the partitions, and their order carries no
    meaning (what consumers do with rated usage adds up). ADR 35.
    """

    event_type: ClassVar[str] = "usage.rated"
    version: ClassVar[int] = 2

    batch_id: UUID = Field(description="This batch; the message key.")
    records: list[RatedUsageV2] = Field(min_length=1, max_length=MAX_RATED_PER_EVENT)

    def key(self) -> str:
        return str(self.batch_id)

    def subject(self) -> str:
        return str(self.batch_id)


_QUANTITY_FIELD: dict[str, str] = {"voice": "duration_s", "sms": "count", "data": "volume_bytes"}


class UsageRecordV1(EventPayload):
    """A call detail record from the network (topic `usage.records`), not yet rated.

    Keyed by billing account: the network does not know customers.
    """

    model_config = ConfigDict(
        # The quantity rule, for readers of the JSON Schema (the validator enforces it).
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": kind}}},
                    "then": {"required": [field], "properties": {field: {"type": "integer"}}},
                }
                for kind, field in _QUANTITY_FIELD.items()
            ]
        }
    )

    event_type: ClassVar[str] = "usage.records"
    version: ClassVar[int] = 1

    record_id: str = Field(min_length=1, description="The network's record id (unique).")
    billing_account_id: UUID
    line: str = Field(min_length=1, description="MSISDN (E.164) or fixed number.")
    kind: UsageKind
    destination: str = Field(default="", description="Called number (voice, sms) or APN (data).")
    started_at: AwareDatetime
    duration_s: int | None = Field(default=None, ge=0, description="Required for voice.")
    volume_bytes: int | None = Field(default=None, ge=0, description="Required for data.")
    count: int | None = Field(default=None, ge=0, description="Required for sms.")

    @model_validator(mode="after")
    def _quantity_matches_kind(self) -> UsageRecordV1:
        field = _QUANTITY_FIELD[self.kind]
        if getattr(self, field) is None:
            raise ValueError(f"a {self.kind} record needs {field}")
        return self

    @property
    def quantity(self) -> int:
        """Seconds, messages or bytes, whichever the kind counts."""
        return cast(int, getattr(self, _QUANTITY_FIELD[self.kind]))

    def key(self) -> str:
        return str(self.billing_account_id)

    def subject(self) -> str:
        return self.record_id


class InvoiceObjectedV1(EventPayload):
    """A customer objected to an invoice within its objection period [SPEC 6.2].

    Carries no reason text (free text written by a person may hold personal data); the
    operator reads it on billing's operator routes.
    """

    event_type: ClassVar[str] = "invoice.objected"
    version: ClassVar[int] = 1

    objection_id: UUID
    invoice_id: UUID
    number: str = Field(min_length=1, description="Number of the invoice objected to.")
    customer_id: UUID
    billing_account_id: UUID
    objected_at: AwareDatetime
    objection_deadline: date = Field(description="Last day objections were accepted.")

    def subject(self) -> str:
        return str(self.invoice_id)
