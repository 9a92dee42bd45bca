"""Closing billing accounts' periods: the invoices, their lines, PDFs, UBL documents and
events, for a chunk of accounts in one transaction (a billing run) or for one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain import calendar
from billing.domain.calendar import Period
from billing.domain.invoice import (
    USAGE_ORDER,
    Line,
    Totals,
    UsageSum,
    build_lines,
    invoice_number,
    vat_totals,
)
from billing.domain.legal import LegalInvoice, communication_base, structured_communication
from billing.models import BillingAccount, Customer
from billing.repository import accounts as accounts_repo
from billing.repository import customers as customers_repo
from billing.repository import invoices as repo
from billing.repository import usage as usage_repo
from billing.repository.usage import ToCharge
from billing.service.catalogue import catalogue_history
from billing.service.charging import Charged, charge_account, load_to_invoice
from billing.service.documents import (
    DocumentFacts,
    legal_document,
    parties_snapshot,
)
from contracts.events.billing import InvoiceClosedV1, InvoiceTotalsV1


class AccountGone(Exception):
    pass


def usage_sums(records: Sequence[ToCharge], amounts: dict[str, Decimal]) -> list[UsageSum]:
    """Per kind: how many records, their quantity and what the invoice charges for them."""
    sums: dict[str, list[Any]] = {}
    for r in records:
        s = sums.setdefault(r.kind, [0, 0, Decimal("0.00")])
        s[0] += 1
        s[1] += r.quantity
        s[2] += amounts[r.record_id]
    return [UsageSum(k, *sums[k]) for k in USAGE_ORDER if k in sums]


@dataclass(frozen=True)
class _Draft:
    account: BillingAccount
    records: list[ToCharge]
    charged: Charged
    lines: list[Line]
    totals: Totals


@dataclass
class Prepared:
    """A chunk's invoices, charged but not numbered or written (``prepare_invoices``)."""

    period: Period
    # Accounts already settled: their existing invoice's id, or why they cannot be invoiced.
    out: dict[uuid.UUID, uuid.UUID | Exception]
    drafts: list[_Draft]
    customers: dict[uuid.UUID, Customer]


async def close_periods(
    session: AsyncSession, deps: Deps, account_ids: Sequence[uuid.UUID], period: Period
) -> dict[uuid.UUID, uuid.UUID | Exception]:
    """Each account's invoice for ``period``, made now unless it already exists: its id,
    or the exception that kept that account from being invoiced (nothing written for it).

    The records are read first, charged as the contract says (allowances, options:
    billing.service.charging), and exactly those are put on the invoice, so a record
    arriving meanwhile is either on this invoice or left for the next one, never half.
    The accounts' invoices are numbered consecutively and written with their lines,
    documents and ``invoice.closed`` events in a few statements per chunk."""
    return await write_invoices(
        session, deps, await prepare_invoices(session, deps, account_ids, period)
    )


async def prepare_invoices(
    session: AsyncSession, deps: Deps, account_ids: Sequence[uuid.UUID], period: Period
) -> Prepared:
    """Read and charge (no write): a billing run prepares the next chunk in its own
    session while the previous one is written. What changes in between is caught when
    writing: an invoice made meanwhile violates the unique constraint, a record invoiced
    meanwhile fails ``set_invoiced``; either rolls the chunk back."""
    ids = list(dict.fromkeys(account_ids))
    out: dict[uuid.UUID, uuid.UUID | Exception] = {}
    existing = await repo.invoices_for_period(session, ids, str(period))
    accounts = await accounts_repo.existing_account_ids(session, ids)
    todo: list[BillingAccount] = []
    for account_id in ids:
        if account_id in existing:
            out[account_id] = existing[account_id]
        elif account_id not in accounts:
            out[account_id] = AccountGone(f"billing account {account_id} no longer exists")
        else:
            todo.append(accounts[account_id])
    if not todo:
        return Prepared(period, out, [], {})

    catalogues = await catalogue_history(session, deps)
    facts = await load_to_invoice(session, [a.id for a in todo], period)
    drafts: list[_Draft] = []
    fees: dict[Any, Any] = {}  # prorated fees by SIM history, for the whole chunk
    for account in todo:
        try:
            records = facts[account.id].records
            charged = charge_account(account, facts[account.id], period, catalogues, fees)
            lines = build_lines(usage_sums(records, charged.amounts), charged.subscriptions)
        except Exception as exc:  # this account fails; the others go on
            out[account.id] = exc
            continue
        totals = vat_totals(line.amount for line in lines)
        drafts.append(_Draft(account, records, charged, lines, totals))
    customer_ids = {d.account.customer_id for d in drafts}
    customers = await customers_repo.customers_by_id(session, customer_ids) if drafts else {}
    return Prepared(period, out, drafts, customers)


async def write_invoices(
    session: AsyncSession, deps: Deps, prepared: Prepared
) -> dict[uuid.UUID, uuid.UUID | Exception]:
    """Number, render and write what ``prepare_invoices`` charged; every account's
    outcome (its invoice id, or why not)."""
    out = dict(prepared.out)
    drafts, customers, period = prepared.drafts, prepared.customers, prepared.period
    if not drafts:
        return out
    issued_at = deps.now()
    issue_date = calendar.local_date(issued_at)
    due_date = calendar.due_date(issued_at, deps.settings.payment_term_days)
    objection_deadline = calendar.objection_deadline(
        issued_at, deps.settings.objection_working_days
    )
    # Numbers are taken only for invoices that will be written: no gap in the series.
    sequences = await repo.next_invoice_sequences(session, issue_date.year, len(drafts))
    invoices: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    on_invoice: list[tuple[str, uuid.UUID, Decimal]] = []
    events: list[InvoiceClosedV1] = []
    docs: list[LegalInvoice] = []
    for draft, sequence in zip(drafts, sequences, strict=True):
        account, totals = draft.account, draft.totals
        customer = customers.get(account.customer_id)
        invoice_id = uuid.uuid4()
        number = invoice_number(issue_date.year, sequence)
        language = customer.language if customer else None
        payment_reference = structured_communication(communication_base(issue_date.year, sequence))
        parties = parties_snapshot(deps.settings, customer)
        invoices.append(
            {
                "id": invoice_id,
                "number": number,
                "billing_account_id": account.id,
                "customer_id": account.customer_id,
                "account_kind": account.kind,
                "period": str(period),
                "issued_at": issued_at,
                "due_date": due_date,
                "objection_deadline": objection_deadline,
                "total_excl_vat": totals.total_excl_vat,
                "vat": totals.vat,
                "total_incl_vat": totals.total_incl_vat,
                "currency": "EUR",
                "kind": "invoice",
                "language": language,
                "payment_reference": payment_reference,
                "parties": parties,
            }
        )
        docs.append(
            legal_document(
                DocumentFacts(
                    kind="invoice",
                    number=number,
                    period=str(period),
                    issue_date=issue_date,
                    due_date=due_date,
                    objection_deadline=objection_deadline,
                    language=language,
                    payment_reference=payment_reference,
                    parties=parties,
                    billing_account_name=account.name,
                ),
                draft.lines,
                totals,
            )
        )
        line_rows += [
            {
                "id": uuid.uuid4(),
                "invoice_id": invoice_id,
                "position": i,
                "category": line.category,
                "description": line.description,
                "quantity": line.quantity,
                "unit": line.unit,
                "amount": line.amount,
            }
            for i, line in enumerate(draft.lines, start=1)
        ]
        on_invoice += [(r.record_id, invoice_id, draft.charged.amounts[r.record_id])
                       for r in draft.records]  # fmt: skip
        events.append(
            InvoiceClosedV1(
                invoice_id=invoice_id,
                number=number,
                customer_id=account.customer_id,
                billing_account_id=account.id,
                billing_account_kind=account.kind,
                period=str(period),
                issued_at=issued_at,
                due_date=due_date,
                objection_deadline=objection_deadline,
                totals=InvoiceTotalsV1(
                    total_excl_vat=totals.total_excl_vat,
                    vat=totals.vat,
                    total_incl_vat=totals.total_incl_vat,
                ),
            )
        )
        out[account.id] = invoice_id

    # The documents are rendered (in worker processes for a chunk) while the database
    # takes the invoices, the usage and the events.
    rendering = asyncio.ensure_future(deps.documents.render(docs))
    try:
        await repo.add_invoices(session, invoices, line_rows)
        await usage_repo.set_invoiced(session, on_invoice)
        await deps.outbox.add_many(session, events)
    except BaseException:
        rendering.cancel()
        rendering.add_done_callback(lambda task: task.cancelled() or task.exception())
        raise
    rendered = await rendering
    pdfs: list[dict[str, Any]] = []
    ubls: list[dict[str, Any]] = []
    for invoice, (pdf, ubl) in zip(invoices, rendered, strict=True):
        pdfs.append({"invoice_id": invoice["id"], "content": pdf, "created_at": issued_at})
        if ubl is not None:
            ubls.append({"invoice_id": invoice["id"], "content": ubl, "created_at": issued_at})
    await repo.add_documents(session, pdfs, ubls)
    return out


async def close_period(
    session: AsyncSession, deps: Deps, account_id: uuid.UUID, period: Period
) -> uuid.UUID:
    """The account's invoice for ``period`` (its id), made now unless it exists; raises
    what kept it from being made (AccountGone, UnknownPlan, ...)."""
    result = (await close_periods(session, deps, [account_id], period))[account_id]
    if isinstance(result, Exception):
        raise result
    return result
