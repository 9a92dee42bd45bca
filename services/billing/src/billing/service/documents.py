"""The documents of an invoice or credit note: the legal mentions it carries (taken once,
when it is issued), its PDF and its Peppol UBL document."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from billing.domain.calendar import Period
from billing.domain.invoice import Line, Totals
from billing.domain.legal import (
    Address,
    DocumentKind,
    Language,
    LegalInvoice,
    Party,
    Payment,
    label,
    language_of,
)
from billing.domain.ubl import MissingParty, build_ubl
from billing.models import Customer
from billing.pdf import render_invoice_pdf
from billing.settings import BillingSettings

log = logging.getLogger(__name__)


def supplier_party(settings: BillingSettings) -> Party:
    return Party(
        name=settings.supplier_name,
        address=Address(
            street=settings.supplier_street,
            number=settings.supplier_house_number or None,
            postal_code=settings.supplier_postal_code,
            city=settings.supplier_city,
            country=settings.supplier_country,
        ),
        enterprise_number=settings.supplier_enterprise_number,
    )


def customer_party(customer: Customer | None) -> Party:
    """The customer as registered; an empty party (its invoice has no UBL document) when
    identity's ``customer.registered`` has not reached billing."""
    if customer is None:
        return Party(name="", address=None, enterprise_number=None)
    return Party(
        name=customer.company_name,
        address=Address.from_json(customer.address) if customer.address else None,
        enterprise_number=customer.enterprise_number,
    )


def parties_snapshot(settings: BillingSettings, customer: Customer | None) -> dict[str, Any]:
    """What the invoice row keeps, so its documents never change when settings or the
    customer's data change later."""
    return {
        "supplier": supplier_party(settings).to_json(),
        "customer": customer_party(customer).to_json(),
        "iban": settings.supplier_iban,
        "bic": settings.supplier_bic,
    }


def supply_period(period: str) -> tuple[date, date]:
    p = Period.parse(period)
    return date(p.year, p.month, 1), date(p.next().year, p.next().month, 1) - timedelta(days=1)


@dataclass(frozen=True)
class DocumentFacts:
    kind: DocumentKind
    number: str
    period: str
    issue_date: date
    due_date: date
    objection_deadline: date | None
    language: str | None
    payment_reference: str | None
    parties: dict[str, Any]
    billing_account_name: str
    corrects_number: str | None = None
    corrects_issue_date: date | None = None


def legal_document(facts: DocumentFacts, lines: list[Line], totals: Totals) -> LegalInvoice:
    start, end = supply_period(facts.period)
    language: Language = language_of(facts.language)
    customer = Party.from_json(facts.parties["customer"])
    if not customer.name:
        customer = Party(label("unknown_customer", language), None, None)
    return LegalInvoice(
        kind=facts.kind,
        number=facts.number,
        issue_date=facts.issue_date,
        period_start=start,
        period_end=end,
        due_date=facts.due_date,
        supplier=Party.from_json(facts.parties["supplier"]),
        customer=customer,
        payment=Payment(
            iban=facts.parties["iban"],
            bic=facts.parties["bic"],
            communication=facts.payment_reference or "",
        ),
        language=language,
        lines=lines,
        totals=totals,
        billing_account_name=facts.billing_account_name,
        objection_deadline=facts.objection_deadline,
        corrects_number=facts.corrects_number,
        corrects_issue_date=facts.corrects_issue_date,
    )


def render_documents(doc: LegalInvoice) -> tuple[bytes, bytes | None]:
    """The PDF, and the UBL document when both parties are complete enough for Peppol."""
    pdf = render_invoice_pdf(doc)
    try:
        ubl = build_ubl(doc)
    except MissingParty as exc:
        log.warning("no Peppol document for %s %s: %s", doc.kind, doc.number, exc)
        ubl = None
    return pdf, ubl


def render_all(docs: list[LegalInvoice]) -> list[tuple[bytes, bytes | None]]:
    return [render_documents(doc) for doc in docs]


class DocumentRenderer:
    """Renders many documents at once (a chunk of a billing run) off the event loop, so
    the PDFs, the costliest part of an invoice, are made while the database writes the
    chunk: in a thread by default (the service's process mostly waits for the database
    then), or in ``processes`` worker processes (2 or more; started on first use with
    ``spawn``, as a fork of a process running an event loop, Kafka clients and database
    connections is not safe). A few documents (one invoice, a credit note) are rendered
    in place.

    Measured on 2 shared cores (docs/benchmarks.md): a worker process costs ~2.5 s of CPU
    to start (it imports the service), more than the 1.4 ms a PDF now takes saves on a
    run of a thousand invoices; hence the thread by default."""

    MIN_OFF_LOOP = 8

    def __init__(self, processes: int = 0) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    async def render(self, docs: list[LegalInvoice]) -> list[tuple[bytes, bytes | None]]:
        if len(docs) < self.MIN_OFF_LOOP:
            return render_all(docs)
        if self.processes < 2:
            return await asyncio.to_thread(render_all, docs)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn")
            )
        loop = asyncio.get_running_loop()
        size = -(-len(docs) // self.processes)
        try:
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(self._pool, render_all, docs[i : i + size])
                    for i in range(0, len(docs), size)
                )
            )
        except BrokenProcessPool:
            self._pool = None  # a worker died (killed?): a new pool next time
            raise
        return [rendered for part in parts for rendered in part]

    def close(self, *, wait: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None
