"""A legal Belgian invoice (VAT Code art. 53, Royal Decree no. 1 art. 5) in the customer's
language, and its Peppol BIS Billing 3.0 document, checked against the UBL 2.1 schemas and
the official CEN-EN16931-UBL and PEPPOL-EN16931-UBL rules."""

from __future__ import annotations

import re
import zlib
from dataclasses import replace
from datetime import date
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest
from billing_peppol import PeppolValidator

from billing.domain.invoice import Line, vat_totals
from billing.domain.legal import (
    Address,
    Language,
    LegalInvoice,
    Party,
    Payment,
    communication_base,
    is_structured_communication,
    structured_communication,
)
from billing.domain.ubl import MissingParty, build_ubl
from billing.pdf import render_invoice_pdf
from billing.service.documents import DocumentRenderer, render_all, render_documents

CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"

SUPPLIER = Party(
    "Proximus NV", Address("Koning Albert II-laan", "27", "1030", "Brussel"), "0202239951"
)
CUSTOMER = Party("Acme Logistics NV", Address("Rue Neuve", "12", "1000", "Bruxelles"), "0403170701")
LINES = [
    Line("subscription", "Subscription SMART_S (+32470000001)", 1, "month", Decimal("15.00")),
    Line("subscription", "Subscription SMART_M + DATA_5GB (+32470000002)", 1, "month",
         Decimal("32.50")),
    Line("voice", "Voice calls (3 records)", 250, "s", Decimal("0.45")),
    Line("sms", "Text messages (SMS) (2 records)", 2, "messages", Decimal("0.20")),
    Line("data", "Mobile data (1 records)", 524288000, "bytes", Decimal("5.25")),
]  # fmt: skip


def invoice(language: Language = "nl", lines: list[Line] = LINES, **kw: object) -> LegalInvoice:
    fields: dict[str, object] = dict(
        kind="invoice",
        number="INV-2026-000042",
        issue_date=date(2026, 11, 2),
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        due_date=date(2026, 12, 2),
        supplier=SUPPLIER,
        customer=CUSTOMER,
        payment=Payment("BE48001123456727", "GEBABEBB", structured_communication(2600000042)),
        language=language,
        lines=lines,
        totals=vat_totals(line.amount for line in lines),
        billing_account_name="Mobile fleet",
        objection_deadline=date(2026, 11, 9),
    )
    fields.update(kw)
    return LegalInvoice(**fields)  # type: ignore[arg-type]


def credit_note(**kw: object) -> LegalInvoice:
    return replace(
        invoice(**kw),  # type: ignore[arg-type]
        kind="credit_note",
        number="CN-2026-000001",
        issue_date=date(2026, 11, 5),
        corrects_number="INV-2026-000042",
        corrects_issue_date=date(2026, 11, 2),
        payment=Payment("BE48001123456727", "GEBABEBB", ""),
    )


def pdf_text(pdf: bytes) -> str:
    """The text shown on the PDF's pages (fpdf2 core fonts: literal strings in deflated
    content streams)."""
    shown: list[str] = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            content = stream
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content):
            text = re.sub(rb"\\(.)", rb"\1", literal)
            shown.append(text.decode("latin-1"))
    return "\n".join(shown)


# -- structured communication ------------------------------------------------------------


def test_structured_communication_is_ten_digits_and_their_mod_97():
    # 2600000042 mod 97 = 2600000042 - 97 * 26804124 = 14
    assert structured_communication(2600000042) == "+++260/0000/04214+++"
    assert is_structured_communication("+++260/0000/04214+++")
    assert not is_structured_communication("+++260/0000/04215+++")


def test_structured_communication_check_is_97_when_the_remainder_is_zero():
    assert structured_communication(97 * 12345) == "+++000/1197/46597+++"
    assert is_structured_communication("+++000/1197/46597+++")


def test_each_invoice_of_a_year_gets_its_own_communication():
    bases = {communication_base(2026, seq) for seq in range(1, 1000)}
    assert len(bases) == 999 and all(0 < b < 10**10 for b in bases)
    assert communication_base(2026, 42) == 2600000042


# -- the PDF shows every mandatory mention ------------------------------------------------


def test_invoice_pdf_shows_every_mention_the_belgian_vat_code_requires():
    doc = invoice("en")
    text = pdf_text(render_invoice_pdf(doc))
    mandatory = {
        "sequential number": "INV-2026-000042",
        "issue date": "2026-11-02",
        "supply period": "2026-10-01 - 2026-10-31",
        "supplier name": "Proximus NV",
        "supplier address": "Koning Albert II-laan 27",
        "supplier city": "1030 Brussel",
        "supplier VAT number": "BE0202239951",
        "supplier enterprise number": "0202.239.951",
        "customer name": "Acme Logistics NV",
        "customer address": "Rue Neuve 12",
        "customer city": "1000 Bruxelles",
        "customer VAT number": "BE0403170701",
        "line description": "Subscription SMART_M + DATA_5GB (+32470000002)",
        "line quantity": "250 s",
        "line unit price": "EUR 0.0018",
        "subscription unit price": "EUR 32.50",
        "VAT rate": "21%",
        "line amount excl. VAT": "EUR 5.25",
        "total excl. VAT": "EUR 53.40",
        "VAT per rate": "VAT 21% on EUR 53.40",
        "VAT amount": "EUR 11.21",
        "total incl. VAT": "EUR 64.61",
        "due date": "2026-12-02",
        "supplier IBAN": "BE48001123456727",
        "supplier BIC": "GEBABEBB",
        "structured communication": "+++260/0000/04214+++",
    }
    missing = {what: value for what, value in mandatory.items() if value not in text}
    assert missing == {}


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("nl", ["Factuur", "Vervaldag", "Gestructureerde mededeling", "Btw-nummer", "Gesprekken"]),
        ("fr", ["Facture", "Date d'échéance", "Communication structurée", "N° TVA",
                "Appels vocaux"]),
        ("en", ["Invoice", "Due date", "Structured communication", "VAT number", "Voice calls"]),
    ],
)  # fmt: skip
def test_invoice_pdf_speaks_the_customers_language(language: Language, words: list[str]):
    text = pdf_text(render_invoice_pdf(invoice(language)))
    assert [w for w in words if w not in text] == []
    others = {"nl": "Vervaldag", "fr": "Date d'échéance", "en": "Due date"}
    assert [w for lang, w in others.items() if lang != language and w in text] == []


def test_credit_note_pdf_names_the_invoice_it_corrects_and_asks_no_payment():
    text = pdf_text(render_invoice_pdf(credit_note(language="fr")))
    assert "Note de crédit" in text and "CN-2026-000001" in text
    assert "INV-2026-000042 (2026-11-02)" in text
    assert "Communication structurée" not in text


# -- Peppol BIS Billing 3.0 ---------------------------------------------------------------


def test_invoice_with_several_lines_is_a_valid_peppol_invoice(peppol: PeppolValidator):
    document = build_ubl(invoice())
    assert peppol.errors(document) == []
    root = ET.fromstring(document)
    assert root.tag == "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
    assert len(root.findall(f"{CAC}InvoiceLine")) == len(LINES)
    assert root.findtext(f"{CAC}PaymentMeans/{CBC}PaymentID") == "+++260/0000/04214+++"
    assert root.findtext(f"{CAC}LegalMonetaryTotal/{CBC}PayableAmount") == "64.61"


def test_both_parties_are_peppol_participants_0208_enterprise_number(peppol: PeppolValidator):
    root = ET.fromstring(build_ubl(invoice()))
    endpoints = {
        role: root.find(f"{CAC}{role}/{CAC}Party/{CBC}EndpointID")
        for role in ("AccountingSupplierParty", "AccountingCustomerParty")
    }
    got = {role: (e.get("schemeID"), e.text) for role, e in endpoints.items() if e is not None}
    assert got == {
        "AccountingSupplierParty": ("0208", "0202239951"),
        "AccountingCustomerParty": ("0208", "0403170701"),
    }


def test_zero_amount_lines_and_an_empty_period_are_valid(peppol: PeppolValidator):
    zero = [
        Line("subscription", "Subscription DATA_ONLY (+32470000003)", 1, "month",
             Decimal("0.00")),
        Line("data", "Mobile data (0 records)", 0, "bytes", Decimal("0.00")),
        Line("voice", "Voice calls (1 records)", 7, "s", Decimal("0.01")),
    ]  # fmt: skip
    assert peppol.errors(build_ubl(invoice(lines=zero))) == []
    assert peppol.errors(build_ubl(invoice(lines=[]))) == []


def test_credit_note_is_a_valid_peppol_credit_note_referencing_the_invoice(
    peppol: PeppolValidator,
):
    document = build_ubl(credit_note())
    assert peppol.errors(document) == []
    root = ET.fromstring(document)
    assert root.tag == "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"
    assert root.findtext(f"{CBC}CreditNoteTypeCode") == "381"
    ref = f"{CAC}BillingReference/{CAC}InvoiceDocumentReference/{CBC}ID"
    assert root.findtext(ref) == "INV-2026-000042"
    assert len(root.findall(f"{CAC}CreditNoteLine")) == len(LINES)


def test_the_validator_catches_a_broken_document(peppol: PeppolValidator):
    """The check has teeth: wrong totals and a bad enterprise number fail it."""
    good = build_ubl(invoice())
    bad = good.replace(b">64.61</cbc:PayableAmount>", b">64.62</cbc:PayableAmount>").replace(
        b'schemeID="0208">0403170701</cbc:EndpointID>',
        b'schemeID="0208">0403170702</cbc:EndpointID>',
    )
    errors = peppol.errors(bad)
    assert any("BR-CO-16" in e for e in errors)
    assert any("PEPPOL-COMMON-R043" in e for e in errors)


def test_a_customer_not_known_yet_gets_a_pdf_but_no_peppol_document():
    unknown = Party("", None, None)
    with pytest.raises(MissingParty):
        build_ubl(invoice(customer=unknown))
    pdf, ubl = render_documents(invoice(customer=unknown))
    assert pdf.startswith(b"%PDF") and ubl is None


# -- many documents at once (a billing run's chunk) ---------------------------------------


async def test_documents_rendered_in_worker_processes_are_the_ones_rendered_here():
    docs = [replace(invoice(lang), number=f"INV-2026-{n:06d}")
            for n, lang in enumerate(["nl", "fr", "en"] * 4, start=1)]  # fmt: skip
    renderer = DocumentRenderer(2)
    try:
        pooled = await renderer.render(docs)
    finally:
        renderer.close()
    here = render_all(docs)
    assert len(pooled) == len(docs) >= DocumentRenderer.MIN_OFF_LOOP
    assert [pdf_text(p) for p, _ in pooled] == [pdf_text(p) for p, _ in here]
    assert [u for _, u in pooled] == [u for _, u in here]
