from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import (
    BillingAccount,
    CreditNoteSequence,
    Invoice,
    InvoiceLine,
    InvoicePdf,
    InvoiceSequence,
    InvoiceUbl,
    Objection,
)
from billing.repository._sql import chunks, insert_ignoring_conflicts, money
from servicekit.db import Database
from servicekit.pagination import Keyset, Page


async def next_invoice_sequence(session: AsyncSession, year: int) -> int:
    """Bump the year's counter. The UPDATE takes a row lock held until the invoice's
    transaction ends, so numbers are consecutive and never reused."""
    await session.execute(
        insert_ignoring_conflicts(session, InvoiceSequence).values(year=year, last_value=0)
    )
    result = await session.execute(
        update(InvoiceSequence)
        .where(InvoiceSequence.year == year)
        .values(last_value=InvoiceSequence.last_value + 1)
        .returning(InvoiceSequence.last_value)
    )
    return int(result.scalar_one())


async def next_invoice_sequences(session: AsyncSession, year: int, count: int) -> range:
    """``count`` consecutive numbers of the year at once (a chunk of a billing run), locked
    like ``next_invoice_sequence``."""
    await session.execute(
        insert_ignoring_conflicts(session, InvoiceSequence).values(year=year, last_value=0)
    )
    result = await session.execute(
        update(InvoiceSequence)
        .where(InvoiceSequence.year == year)
        .values(last_value=InvoiceSequence.last_value + count)
        .returning(InvoiceSequence.last_value)
    )
    last = int(result.scalar_one())
    return range(last - count + 1, last + 1)


async def next_credit_note_sequence(session: AsyncSession, year: int) -> int:
    """Credit notes' own consecutive series, locked like invoices'."""
    await session.execute(
        insert_ignoring_conflicts(session, CreditNoteSequence).values(year=year, last_value=0)
    )
    result = await session.execute(
        update(CreditNoteSequence)
        .where(CreditNoteSequence.year == year)
        .values(last_value=CreditNoteSequence.last_value + 1)
        .returning(CreditNoteSequence.last_value)
    )
    return int(result.scalar_one())


async def invoice_for_period(
    session: AsyncSession, account_id: uuid.UUID, period: str
) -> Invoice | None:
    return await session.scalar(
        select(Invoice).where(
            Invoice.billing_account_id == account_id,
            Invoice.period == period,
            Invoice.kind == "invoice",
        )
    )


async def invoices_for_period(
    session: AsyncSession, account_ids: list[uuid.UUID], period: str
) -> dict[uuid.UUID, uuid.UUID]:
    """The invoice id of each of these accounts that has its invoice for ``period``."""
    found: dict[uuid.UUID, uuid.UUID] = {}
    for part in chunks(account_ids):
        rows = await session.execute(
            select(Invoice.billing_account_id, Invoice.id).where(
                Invoice.billing_account_id.in_(part),
                Invoice.period == period,
                Invoice.kind == "invoice",
            )
        )
        found.update({a: i for a, i in rows.all()})
    return found


async def credit_note_of(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice | None:
    return await session.scalar(select(Invoice).where(Invoice.corrects_invoice_id == invoice_id))


async def add_invoice(session: AsyncSession, invoice: Invoice) -> None:
    session.add(invoice)
    await session.flush()


async def add_invoice_parts(
    session: AsyncSession,
    invoice_id: uuid.UUID,
    lines: list[InvoiceLine],
    pdf: bytes,
    ubl: bytes | None = None,
) -> None:
    session.add_all(lines)
    session.add(InvoicePdf(invoice_id=invoice_id, content=pdf))
    if ubl is not None:
        session.add(InvoiceUbl(invoice_id=invoice_id, content=ubl))
    await session.flush()


async def _insert_many(session: AsyncSession, model: type[Any], rows: list[dict[str, Any]]) -> None:
    for part in chunks(rows):
        await session.execute(insert(model), part)


async def add_invoices(
    session: AsyncSession, invoices: list[dict[str, Any]], lines: list[dict[str, Any]]
) -> None:
    """Many invoices with their lines: one multi-row INSERT per table (per 1,000 rows)
    instead of a flush per invoice."""
    await _insert_many(session, Invoice, invoices)
    await _insert_many(session, InvoiceLine, lines)


async def add_documents(
    session: AsyncSession, pdfs: list[dict[str, Any]], ubls: list[dict[str, Any]]
) -> None:
    """Many invoices' PDFs and UBL documents (rows of ``invoice_id``, ``content``,
    ``created_at``)."""
    await _insert_many(session, InvoicePdf, pdfs)
    await _insert_many(session, InvoiceUbl, ubls)


async def invoice_ubl(session: AsyncSession, invoice_id: uuid.UUID) -> bytes | None:
    return await session.scalar(
        select(InvoiceUbl.content).where(InvoiceUbl.invoice_id == invoice_id)
    )


async def get_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice | None:
    return await session.get(Invoice, invoice_id)


async def invoice_lines(session: AsyncSession, invoice_id: uuid.UUID) -> list[InvoiceLine]:
    q = select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
    return list(await session.scalars(q.order_by(InvoiceLine.position)))


async def invoice_pdf(session: AsyncSession, invoice_id: uuid.UUID) -> bytes | None:
    return await session.scalar(
        select(InvoicePdf.content).where(InvoicePdf.invoice_id == invoice_id)
    )


# Newest period first. An account has one invoice per period, so the id only makes the
# position unique; its direction never shows.
INVOICES = Keyset(Invoice.period, Invoice.id)


# What an account's invoice list shows (``InvoiceSummary``), read as rows rather than
# ORM objects. The list is the portal's most frequent read (ADR 26): its statements are
# built once per shape (cursor, from, to) with bound parameters, so a request neither
# constructs nor hashes a new statement.
_SUMMARY_COLUMNS = (
    Invoice.id, Invoice.number, Invoice.billing_account_id, Invoice.period,
    Invoice.total_excl_vat, Invoice.vat, Invoice.total_incl_vat, Invoice.issued_at,
    Invoice.due_date, Invoice.objection_deadline, Invoice.currency,
    Invoice.details_removed_at, Invoice.kind, Invoice.corrects_invoice_id,
)  # fmt: skip


@functools.cache
def _summaries(after: bool, from_: bool, to: bool) -> Any:
    q = select(*_SUMMARY_COLUMNS).where(Invoice.billing_account_id == bindparam("account_id"))
    if from_:
        q = q.where(Invoice.period >= bindparam("period_from"))
    if to:
        q = q.where(Invoice.period <= bindparam("period_to"))
    return INVOICES.prepared(q, after=after)


async def page_invoices(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    period_from: str | None,
    period_to: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Row[Any]]:
    """A page of the account's invoices and credit notes, newest period first, as rows
    with ``Invoice``'s attribute names."""
    params = INVOICES.params(cursor, limit)
    stmt = _summaries("k0" in params, bool(period_from), bool(period_to))
    params.update(account_id=account_id, period_from=period_from, period_to=period_to)
    rows = list(await session.execute(stmt, params))
    return INVOICES.page(rows, limit)


@functools.cache
def _account_and_summaries(after: bool, from_: bool, to: bool) -> Any:
    page = _summaries(after, from_, to).subquery("page")
    accounts = BillingAccount.__table__
    return (
        select(
            accounts.c.id.label("account_id"),
            accounts.c.customer_id.label("account_customer_id"),
            accounts.c.status.label("account_status"),
            *page.c,
        )
        .select_from(accounts.outerjoin(page, true()))
        .where(accounts.c.id == bindparam("account_id"))
        .order_by(*INVOICES.ordered(page.c))
    )


@dataclass(slots=True)
class AccountFactsRow:
    """``AccountFacts`` read with the invoice list's page."""

    id: uuid.UUID
    customer_id: uuid.UUID
    status: str


async def account_and_page(
    db: Database,
    account_id: uuid.UUID,
    *,
    period_from: str | None,
    period_to: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[AccountFactsRow | None, Page[Row[Any]]]:
    """The account's facts (None if there is no such account) and a page of its invoice
    list, in one statement: the invoice list's fast lane (``api.fast``) reads both on
    every request, and a round trip costs as much as the rest of its work. The caller
    must check the facts before it shows the page."""
    params = INVOICES.params(cursor, limit)
    stmt = _account_and_summaries("k0" in params, bool(period_from), bool(period_to))
    params.update(account_id=account_id, period_from=period_from, period_to=period_to)
    rows = await db.read_rows(stmt, params)
    if not rows:
        return None, Page(items=[], next_cursor=None)
    first = rows[0]
    facts = AccountFactsRow(first.account_id, first.account_customer_id, first.account_status)
    return facts, INVOICES.page([r for r in rows if r.id is not None], limit)


async def add_objection(session: AsyncSession, objection: Objection) -> None:
    session.add(objection)
    await session.flush()


async def objections_of_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> list[Objection]:
    q = select(Objection).where(Objection.invoice_id == invoice_id)
    return list(await session.scalars(q.order_by(Objection.created_at, Objection.id)))


async def lock_objection(session: AsyncSession, objection_id: uuid.UUID) -> Objection | None:
    """The objection, row-locked until the transaction ends: two operators deciding at
    once are serialised, and the second sees the first one's decision."""
    return await session.scalar(
        select(Objection)
        .where(Objection.id == objection_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice | None:
    return await session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# Oldest first: objections are decided in the order they came in.
OBJECTIONS = Keyset(Objection.created_at, Objection.id, descending=False)


async def page_objections(
    session: AsyncSession, *, status: str | None, cursor: str | None, limit: int
) -> Page[Objection]:
    q = select(Objection)
    if status is not None:
        q = q.where(Objection.status == status)
    rows = list(await session.scalars(OBJECTIONS.apply(q, cursor, limit)))
    return OBJECTIONS.page(rows, limit)


async def invoices_of_customer(
    session: AsyncSession,
    customer_id: uuid.UUID,
    account_ids: list[uuid.UUID] | None,
    period_from: str,
    period_to: str,
) -> list[Invoice]:
    q = select(Invoice).where(
        Invoice.customer_id == customer_id,
        Invoice.kind == "invoice",
        Invoice.period >= period_from,
        Invoice.period <= period_to,
    )
    if account_ids is not None:
        q = q.where(Invoice.billing_account_id.in_(account_ids))
    return list(await session.scalars(q.order_by(Invoice.period)))


async def line_totals_by_category(
    session: AsyncSession, invoice_ids: list[uuid.UUID]
) -> dict[str, Decimal]:
    if not invoice_ids:
        return {}
    rows = await session.execute(
        select(InvoiceLine.category, func.sum(InvoiceLine.amount))
        .where(InvoiceLine.invoice_id.in_(invoice_ids))
        .group_by(InvoiceLine.category)
    )
    return {c: money(a) for c, a in rows.all()}


# -- retention -----------------------------------------------------------------------


async def remove_invoice_details_before(
    session: AsyncSession, kind: str, before: datetime, now: datetime
) -> int:
    """Keep only the header and the PDF of ``kind`` accounts' invoices issued before
    ``before``: their lines and objections are deleted; returns how many invoices."""
    ids = list(
        await session.scalars(
            select(Invoice.id).where(
                Invoice.account_kind == kind,
                Invoice.issued_at < before,
                Invoice.details_removed_at.is_(None),
            )
        )
    )
    if not ids:
        return 0
    for table in (InvoiceLine, Objection):
        await session.execute(
            delete(table)
            .where(table.invoice_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(Invoice)
        .where(Invoice.id.in_(ids))
        .values(details_removed_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(ids)


async def delete_invoices_before(session: AsyncSession, kind: str, before: datetime) -> int:
    """Invoices of ``kind`` accounts issued before ``before``, with lines, PDF, call
    details and objections (by cascade)."""
    ids = select(Invoice.id).where(
        Invoice.account_kind == kind,
        Invoice.issued_at < before,
    )
    result = await session.execute(
        delete(Invoice).where(Invoice.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
