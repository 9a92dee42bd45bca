"""Reading closed invoices and credit notes: list, detail, PDF, UBL, call details."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain.invoice import VAT_RATE, Line
from billing.domain.legal import language_of, unit_price
from billing.exports import invoices_table, tables_to_csv, tables_to_xlsx, to_csv, to_xlsx
from billing.models import BillingAccount, Invoice
from billing.repository import invoices as repo
from billing.repository import usage as usage_repo
from billing.repository.usage import ANY_USAGE, UsageFilter
from billing.schemas import (
    InvoiceLineOut,
    InvoiceOut,
    InvoiceSummary,
    InvoiceUsage,
    ObjectionStatusOut,
    UsageItem,
)
from billing.service.exports import record_export
from servicekit.auth import Principal
from servicekit.pagination import Page
from servicekit.problems import Gone, NotFound

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
    return summaries_page(found)


def summaries_page(found: Page[Any]) -> Page[InvoiceSummary]:
    """The list's reply from its rows (``repository.invoices.page_invoices``)."""
    return Page[InvoiceSummary](
        items=[InvoiceSummary.of(i) for i in found.items], next_cursor=found.next_cursor
    )


async def invoice_list_file(
    session: AsyncSession,
    deps: Deps,
    account: BillingAccount,
    fmt: Literal["csv", "xlsx"],
    *,
    period_from: str | None,
    period_to: str | None,
    exported_by: Principal,
) -> bytes:
    """Every invoice of the account in the periods, newest first, as one file (recorded
    in the customer's audit trail)."""
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
    await record_export(
        session,
        deps,
        exported_by,
        account.customer_id,
        what="invoice_list",
        fmt=fmt,
        rows=len(items),
        target={"billing_account_id": account.id},
        filters={"from": period_from, "to": period_to},
    )
    table = invoices_table(items)
    return tables_to_csv([table]) if fmt == "csv" else tables_to_xlsx([table])


async def get_invoice(session: AsyncSession, inv: Invoice) -> InvoiceOut:
    lines = await repo.invoice_lines(session, inv.id)
    objections = await repo.objections_of_invoice(session, inv.id)
    latest = objections[-1] if objections else None
    credit_note = await repo.credit_note_of(session, inv.id) if inv.kind == "invoice" else None
    vat_percent = (VAT_RATE * 100).normalize()
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
                unit_price=unit_price(
                    Line(line.category, line.description, line.quantity, line.unit, line.amount)
                ),
                vat_rate=vat_percent,
                amount_excl_vat=line.amount,
            )
            for line in lines
        ],
        payment_reference=inv.payment_reference,
        language=language_of(inv.language) if inv.language else None,
        objection=ObjectionStatusOut(
            objection_id=latest.id,
            status="open" if latest.status == "received" else latest.status,  # type: ignore[arg-type]
            created_at=latest.created_at,
            decided_at=latest.decided_at,
            credit_note_id=latest.credit_note_id,
        )
        if latest is not None
        else None,
        credit_note_id=credit_note.id if credit_note is not None else None,
    )


async def get_ubl(session: AsyncSession, inv: Invoice) -> bytes:
    content = await repo.invoice_ubl(session, inv.id)
    if content is None:
        raise NotFound(
            "This invoice has no Peppol document: the customer's registration details "
            "(enterprise number, address) had not reached billing when it was issued"
        )
    return content


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
    deps: Deps,
    inv: Invoice,
    fmt: Literal["csv", "xlsx"],
    exported_by: Principal,
    usage: UsageFilter = ANY_USAGE,
) -> bytes:
    """The invoice's call details (after the filters) as one CSV or XLSX file; the export
    goes to the customer's audit trail [14.2] in the request's transaction."""
    items = [UsageItem.of(u) for u in await usage_repo.invoice_usage(session, inv.id, usage)]
    await record_export(
        session,
        deps,
        exported_by,
        inv.customer_id,
        what="call_details",
        fmt=fmt,
        rows=len(items),
        target={"invoice_id": inv.id, "billing_account_id": inv.billing_account_id},
    )
    if fmt == "csv":
        return to_csv(items)
    return to_xlsx(items, title=inv.number)
