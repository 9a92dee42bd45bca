"""Closing one billing account's period: the invoice, its lines, PDF and event."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain import calendar
from billing.domain.calendar import Period
from billing.domain.invoice import build_lines, invoice_number, vat_totals
from billing.domain.legal import communication_base, structured_communication
from billing.models import Invoice, InvoiceLine
from billing.repository import accounts as accounts_repo
from billing.repository import customers as customers_repo
from billing.repository import invoices as repo
from billing.repository import usage as usage_repo
from billing.service.catalogue import catalogue_history
from billing.service.charging import charge_invoice
from billing.service.documents import (
    DocumentFacts,
    legal_document,
    parties_snapshot,
    render_documents,
)
from contracts.events.billing import InvoiceClosedV1, InvoiceTotalsV1


class AccountGone(Exception):
    pass


async def close_period(
    session: AsyncSession, deps: Deps, account_id: uuid.UUID, period: Period
) -> tuple[Invoice, bool]:
    """The account's invoice for ``period``; ``(invoice, False)`` if it already existed.

    The invoice row is written first and the usage marked with its id; those records are
    then charged as the contract says (allowances, options: billing.service.charging) and
    the lines summed from exactly them, so a record arriving meanwhile is either on
    this invoice or left for the next one, never half.
    """
    account = await accounts_repo.get_account(session, account_id)
    if account is None:
        raise AccountGone(f"billing account {account_id} no longer exists")
    existing = await repo.invoice_for_period(session, account_id, str(period))
    if existing is not None:
        return existing, False

    issued_at = deps.now()
    issue_date = calendar.local_date(issued_at)
    sequence = await repo.next_invoice_sequence(session, issue_date.year)
    customer = await customers_repo.get_customer(session, account.customer_id)
    zero = Decimal("0.00")
    invoice = Invoice(
        id=uuid.uuid4(),
        number=invoice_number(issue_date.year, sequence),
        billing_account_id=account.id,
        customer_id=account.customer_id,
        account_kind=account.kind,
        period=str(period),
        issued_at=issued_at,
        due_date=calendar.due_date(issued_at, deps.settings.payment_term_days),
        objection_deadline=calendar.objection_deadline(
            issued_at, deps.settings.objection_working_days
        ),
        total_excl_vat=zero,
        vat=zero,
        total_incl_vat=zero,
        currency="EUR",
        kind="invoice",
        language=customer.language if customer else None,
        payment_reference=structured_communication(communication_base(issue_date.year, sequence)),
        parties=parties_snapshot(deps.settings, customer),
    )
    await repo.add_invoice(session, invoice)
    await usage_repo.mark_invoiced(session, account.id, period.ends_at, invoice.id)
    catalogues = await catalogue_history(session, deps)
    charged = await charge_invoice(session, account, invoice.id, period, catalogues)
    usage = await usage_repo.sums_for_invoice(session, invoice.id)
    lines = build_lines(usage, charged.subscriptions)
    totals = vat_totals(line.amount for line in lines)
    invoice.total_excl_vat = totals.total_excl_vat
    invoice.vat = totals.vat
    invoice.total_incl_vat = totals.total_incl_vat

    pdf, ubl = render_documents(
        legal_document(
            DocumentFacts(
                kind="invoice",
                number=invoice.number,
                period=str(period),
                issue_date=issue_date,
                due_date=invoice.due_date,
                objection_deadline=invoice.objection_deadline,
                language=invoice.language,
                payment_reference=invoice.payment_reference,
                parties=invoice.parties or {},
                billing_account_name=account.name,
            ),
            lines,
            totals,
        )
    )
    rows = [
        InvoiceLine(
            id=uuid.uuid4(),
            invoice_id=invoice.id,
            position=i,
            category=line.category,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            amount=line.amount,
        )
        for i, line in enumerate(lines, start=1)
    ]
    await repo.add_invoice_parts(session, invoice.id, rows, pdf, ubl)
    await deps.outbox.add(
        session,
        InvoiceClosedV1(
            invoice_id=invoice.id,
            number=invoice.number,
            customer_id=account.customer_id,
            billing_account_id=account.id,
            billing_account_kind=account.kind,
            period=str(period),
            issued_at=issued_at,
            due_date=invoice.due_date,
            objection_deadline=invoice.objection_deadline,
            totals=InvoiceTotalsV1(
                total_excl_vat=totals.total_excl_vat,
                vat=totals.vat,
                total_incl_vat=totals.total_incl_vat,
            ),
        ),
    )
    return invoice, True
