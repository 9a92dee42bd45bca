"""Test data for einvoice. Every call is fresh (random ids, random suffixes in names and
addresses), so tests sharing one database, like the integration module's, never collide."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from contracts.events.billing import InvoiceClosedV1, InvoiceTotalsV1

if TYPE_CHECKING:
    from .conftest import World

Kind = Literal["fixed", "mobile"]
VAT_RATE = Decimal("0.21")


def suffix() -> str:
    return uuid.uuid4().hex[:8]


def email_address(local: str = "ap") -> str:
    return f"{local}-{suffix()}@example.com"


def account_name() -> str:
    return f"Account {suffix()}"


@dataclass(frozen=True)
class Account:
    """A billing account billing knows, and a user of its customer who may read its
    invoices and manage their delivery."""

    customer_id: uuid.UUID
    id: uuid.UUID
    headers: dict[str, str]

    @property
    def delivery(self) -> str:
        return f"/v1/billing-accounts/{self.id}/delivery"

    @property
    def deliveries(self) -> str:
        return f"/v1/billing-accounts/{self.id}/deliveries"


def billing_account(
    world: World,
    kind: Kind = "mobile",
    *,
    name: str | None = None,
    customer_id: uuid.UUID | None = None,
) -> Account:
    """A new account at (fake) billing; a new customer unless ``customer_id`` is given."""
    customer = customer_id or uuid.uuid4()
    account = world.billing.add(customer, kind, name=name or account_name())
    return Account(customer, account, world.user(customer))


def closed_invoice(
    customer_id: uuid.UUID,
    billing_account_id: uuid.UUID,
    kind: Kind = "mobile",
    period: str = "2026-10",
    *,
    total_excl_vat: str = "100.00",
) -> InvoiceClosedV1:
    """What billing announces when it closes an invoice (21% VAT, due 20 December 2026)."""
    excl = Decimal(total_excl_vat)
    vat = (excl * VAT_RATE).quantize(Decimal("0.01"))
    return InvoiceClosedV1(
        invoice_id=uuid.uuid4(),
        number=f"F2026-{suffix()}",
        customer_id=customer_id,
        billing_account_id=billing_account_id,
        billing_account_kind=kind,
        period=period,
        issued_at=datetime.now(UTC),
        due_date=date(2026, 12, 20),
        totals=InvoiceTotalsV1(total_excl_vat=excl, vat=vat, total_incl_vat=excl + vat),
    )
