"""Objections to an invoice [SPEC 6.2]: within 5 Belgian working days of it being made
available; operators accept (a credit note is issued) or reject; the customer's user who
objected is mailed at each step."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain.calendar import local_date, objection_open
from billing.domain.invoice import Line, Totals
from billing.models import Invoice, InvoiceLine, Objection
from billing.repository import accounts as accounts_repo
from billing.repository import customers as customers_repo
from billing.repository import invoices as repo
from billing.schemas import ObjectionOut
from billing.service.documents import (
    DocumentFacts,
    legal_document,
    parties_snapshot,
    render_documents,
)
from contracts.events.billing import InvoiceObjectedV1
from contracts.events.notification import AttachmentRefV1, NotificationRequestedV1, RecipientV1
from contracts.types import Locale
from servicekit.pagination import Page
from servicekit.problems import Conflict, NotFound

TEMPLATE = "invoice_objection"
Step = Literal["received", "accepted", "rejected"]


def credit_note_number(year: int, sequence: int) -> str:
    return f"CN-{year:04d}-{sequence:06d}"


def _locale(inv: Invoice) -> Locale:
    return "fr" if inv.language == "fr" else "en" if inv.language == "en" else "nl"


async def _mail(
    session: AsyncSession,
    deps: Deps,
    objection: Objection,
    inv: Invoice,
    step: Step,
    *,
    credit_note: Invoice | None = None,
) -> None:
    """Tell the user who objected, through the notifier (one mail per objection and step)."""
    try:
        user_id = uuid.UUID(objection.submitted_by)
    except ValueError:
        return  # not a user (a service acting for the customer): nobody to mail
    params = {"step": step, "invoice_number": inv.number}
    if step == "rejected" and objection.decision_reason:
        params["reason"] = objection.decision_reason
    if credit_note is not None:
        params["credit_note_number"] = credit_note.number
    await deps.outbox.add(
        session,
        NotificationRequestedV1(
            request_id=uuid.uuid5(objection.id, step),
            customer_id=inv.customer_id,
            channel="email",
            template=TEMPLATE,
            locale=_locale(inv),
            to=RecipientV1(user_id=user_id),
            params=params,
            attachments=[AttachmentRefV1(kind="invoice_pdf", invoice_id=credit_note.id)]
            if credit_note is not None
            else [],
        ),
    )


async def object_to_invoice(
    session: AsyncSession, deps: Deps, inv: Invoice, *, reason: str, submitted_by: str
) -> ObjectionOut:
    now = deps.now()
    if inv.kind != "invoice":
        raise Conflict("A credit note cannot be objected to", slug="not-an-invoice")
    if not objection_open(inv.objection_deadline, now):
        raise Conflict(
            f"The objection period ended on {inv.objection_deadline.isoformat()}; "
            "the invoice is accepted",
            slug="objection-period-over",
            objection_deadline=inv.objection_deadline.isoformat(),
        )
    locked = await repo.lock_invoice(session, inv.id)  # one objection at a time per invoice
    assert locked is not None
    for earlier in await repo.objections_of_invoice(session, inv.id):
        if earlier.status in ("open", "received", "accepted"):
            raise Conflict(
                "This invoice already has an objection "
                + ("being handled" if earlier.status != "accepted" else "that was accepted"),
                slug="objection-exists",
                objection_id=str(earlier.id),
            )
    objection = Objection(
        id=uuid.uuid4(),
        invoice_id=inv.id,
        customer_id=inv.customer_id,
        reason=reason,
        submitted_by=submitted_by,
        status="open",
        created_at=now,
    )
    await repo.add_objection(session, objection)
    await deps.outbox.add(
        session,
        InvoiceObjectedV1(
            objection_id=objection.id,
            invoice_id=inv.id,
            number=inv.number,
            customer_id=inv.customer_id,
            billing_account_id=inv.billing_account_id,
            objected_at=now,
            objection_deadline=inv.objection_deadline,
        ),
    )
    await _mail(session, deps, objection, inv, "received")
    return ObjectionOut.of(objection, inv)


async def list_objections(
    session: AsyncSession, *, status: str | None, cursor: str | None, limit: int
) -> Page[ObjectionOut]:
    found = await repo.page_objections(session, status=status, cursor=cursor, limit=limit)
    items = []
    for objection in found.items:
        inv = await repo.get_invoice(session, objection.invoice_id)
        if inv is not None:
            items.append(ObjectionOut.of(objection, inv))
    return Page[ObjectionOut](items=items, next_cursor=found.next_cursor)


async def _decidable(session: AsyncSession, objection_id: uuid.UUID) -> tuple[Objection, Invoice]:
    objection = await repo.lock_objection(session, objection_id)
    if objection is None:
        raise NotFound("No such objection")
    inv = await repo.get_invoice(session, objection.invoice_id)
    if inv is None:
        raise NotFound("No such objection")
    return objection, inv


async def reject_objection(
    session: AsyncSession, deps: Deps, objection_id: uuid.UUID, *, reason: str, decided_by: str
) -> ObjectionOut:
    objection, inv = await _decidable(session, objection_id)
    if objection.status == "rejected":
        return ObjectionOut.of(objection, inv)  # asked twice: same answer, one mail
    if objection.status == "accepted":
        raise Conflict("This objection was accepted already", slug="objection-decided")
    objection.status = "rejected"
    objection.decided_at = deps.now()
    objection.decided_by = decided_by
    objection.decision_reason = reason
    await session.flush()
    await _mail(session, deps, objection, inv, "rejected")
    return ObjectionOut.of(objection, inv)


async def accept_objection(
    session: AsyncSession, deps: Deps, objection_id: uuid.UUID, *, decided_by: str
) -> ObjectionOut:
    """Accept: issue the credit note of the whole invoice. Accepting again returns the
    same decision and credit note (the objection row is locked while deciding)."""
    objection, inv = await _decidable(session, objection_id)
    if objection.status == "accepted":
        return ObjectionOut.of(objection, inv)
    if objection.status == "rejected":
        raise Conflict("This objection was rejected already", slug="objection-decided")
    credit_note = await repo.credit_note_of(session, inv.id) or await issue_credit_note(
        session, deps, inv
    )
    objection.status = "accepted"
    objection.decided_at = deps.now()
    objection.decided_by = decided_by
    objection.credit_note_id = credit_note.id
    await session.flush()
    await _mail(session, deps, objection, inv, "accepted", credit_note=credit_note)
    return ObjectionOut.of(objection, inv)


async def issue_credit_note(session: AsyncSession, deps: Deps, inv: Invoice) -> Invoice:
    """The credit note of the whole invoice: its own number (CN series), id, lines, PDF and
    UBL CreditNote referencing the invoice; the invoice's parties as issued."""
    issued_at: datetime = deps.now()
    issue_date = local_date(issued_at)
    sequence = await repo.next_credit_note_sequence(session, issue_date.year)
    parties = inv.parties
    if parties is None:  # an invoice issued before parties were kept
        customer = await customers_repo.get_customer(session, inv.customer_id)
        parties = parties_snapshot(deps.settings, customer)
    note = Invoice(
        id=uuid.uuid4(),
        number=credit_note_number(issue_date.year, sequence),
        billing_account_id=inv.billing_account_id,
        customer_id=inv.customer_id,
        account_kind=inv.account_kind,
        period=inv.period,
        issued_at=issued_at,
        due_date=issue_date,
        objection_deadline=issue_date,
        total_excl_vat=inv.total_excl_vat,
        vat=inv.vat,
        total_incl_vat=inv.total_incl_vat,
        currency=inv.currency,
        kind="credit_note",
        corrects_invoice_id=inv.id,
        language=inv.language,
        payment_reference=None,
        parties=parties,
    )
    await repo.add_invoice(session, note)
    source = await repo.invoice_lines(session, inv.id)
    lines = [Line(r.category, r.description, r.quantity, r.unit, r.amount) for r in source]
    account = await accounts_repo.get_account(session, inv.billing_account_id)
    pdf, ubl = render_documents(
        legal_document(
            DocumentFacts(
                kind="credit_note",
                number=note.number,
                period=note.period,
                issue_date=issue_date,
                due_date=issue_date,
                objection_deadline=None,
                language=note.language,
                payment_reference=None,
                parties=parties,
                billing_account_name=account.name if account else "",
                corrects_number=inv.number,
                corrects_issue_date=local_date(inv.issued_at),
            ),
            lines,
            Totals(inv.total_excl_vat, inv.vat, inv.total_incl_vat),
        )
    )
    rows = [
        InvoiceLine(
            id=uuid.uuid4(),
            invoice_id=note.id,
            position=r.position,
            category=r.category,
            description=r.description,
            quantity=r.quantity,
            unit=r.unit,
            amount=r.amount,
        )
        for r in source
    ]
    await repo.add_invoice_parts(session, note.id, rows, pdf, ubl)
    return note
