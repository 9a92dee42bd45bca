"""Reading closed invoices: list, detail, PDF, call details; objections."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain.calendar import objection_open
from billing.exports import invoices_table, tables_to_csv, tables_to_xlsx, to_csv, to_xlsx
from billing.models import BillingAccount, Invoice, Objection
from billing.repository import invoices as repo
from billing.repository import usage as usage_repo
from billing.repository.usage import ANY_USAGE, UsageFilter
from billing.schemas import (
    InvoiceLineOut,
    InvoiceOut,
    InvoiceSummary,
    InvoiceUsage,
    ObjectionOut,
    UsageItem,
)
from servicekit.pagination import Page
from servicekit.problems import Conflict, Gone

EXPORT_PAGE = 200


async def list_invoices(
    session: AsyncSession,
    account: BillingAccount,
    *,
    period_from: str | None,
    period_to: str | None,
    cursor: str | None,
    limit: int,
) -> Page[InvoiceSummary]:
    found = await repo.page_invoices(
        session,
        account.id,
        period_from=period_from,
        period_to=period_to,
        cursor=cursor,
        limit=limit,
    )
    return Page[InvoiceSummary](
        items=[InvoiceSummary.of(i) for i in found.items], next_cursor=found.next_cursor
    )


async def invoice_list_file(
    session: AsyncSession,
    account: BillingAccount,
    fmt: Literal["csv", "xlsx"],
    *,
    period_from: str | None,
    period_to: str | None,
) -> bytes:
    """Every invoice of the account in the periods, newest first, as one file."""
    items: list[InvoiceSummary] = []
    cursor: str | None = None
    while True:
        page = await list_invoices(
            session,
            account,
            period_from=period_from,
            period_to=period_to,
            cursor=cursor,
            limit=EXPORT_PAGE,
        )
        items.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    table = invoices_table(items)
    return tables_to_csv([table]) if fmt == "csv" else tables_to_xlsx([table])


async def get_invoice(session: AsyncSession, inv: Invoice) -> InvoiceOut:
    lines = await repo.invoice_lines(session, inv.id)
    return InvoiceOut(
        **InvoiceSummary.of(inv).model_dump(),
        customer_id=inv.customer_id,
        lines=[
            InvoiceLineOut(
                position=line.position,
                category=line.category,
                description=line.description,
                quantity=line.quantity,
                unit=line.unit,
                amount_excl_vat=line.amount,
            )
            for line in lines
        ],
    )


async def get_pdf(session: AsyncSession, inv: Invoice) -> bytes:
    content = await repo.invoice_pdf(session, inv.id)
    if content is None:
        raise Gone("The PDF of this invoice is past its retention time")
    return content


async def invoice_usage(
    session: AsyncSession,
    inv: Invoice,
    *,
    cursor: str | None,
    limit: int,
    usage: UsageFilter = ANY_USAGE,
) -> InvoiceUsage:
    found = await usage_repo.page_invoice_usage(
        session, inv.id, cursor=cursor, limit=limit, usage=usage
    )
    return InvoiceUsage(
        invoice_id=inv.id,
        items=[UsageItem.of(u) for u in found.items],
        next_cursor=found.next_cursor,
    )


async def invoice_usage_file(
    session: AsyncSession,
    inv: Invoice,
    fmt: Literal["csv", "xlsx"],
    usage: UsageFilter = ANY_USAGE,
) -> bytes:
    """The invoice's call details (after the filters) as one CSV or XLSX file."""
    items = [UsageItem.of(u) for u in await usage_repo.invoice_usage(session, inv.id, usage)]
    if fmt == "csv":
        return to_csv(items)
    return to_xlsx(items, title=inv.number)


async def object_to_invoice(
    session: AsyncSession, deps: Deps, inv: Invoice, *, reason: str, submitted_by: str
) -> ObjectionOut:
    now = deps.now()
    if not objection_open(inv.objection_deadline, now):
        raise Conflict(
            f"The objection period ended on {inv.objection_deadline.isoformat()}; "
            "the invoice is accepted"
        )
    objection = Objection(
        id=uuid.uuid4(),
        invoice_id=inv.id,
        customer_id=inv.customer_id,
        reason=reason,
        submitted_by=submitted_by,
        status="received",
        created_at=now,
    )
    await repo.add_objection(session, objection)
    return ObjectionOut(
        objection_id=objection.id,
        invoice_id=inv.id,
        status=objection.status,
        created_at=objection.created_at,
        objection_deadline=inv.objection_deadline,
    )
