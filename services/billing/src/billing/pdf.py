"""The invoice PDF: a plain, company-neutral layout with fpdf2's core fonts.

Core fonts only know Latin-1, so text is folded to it ("EUR" instead of the euro sign,
unknown characters replaced) rather than embedding a font file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from fpdf import FPDF

from billing.domain.calendar import local_date
from billing.domain.invoice import VAT_RATE, Line, Totals


@dataclass(frozen=True)
class PdfInvoice:
    number: str
    account_name: str
    account_kind: str
    billing_account_id: str
    period: str
    issued_at: datetime
    due_date: date
    objection_deadline: date
    lines: list[Line]
    totals: Totals


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _eur(amount: Decimal) -> str:
    return f"EUR {amount:,.2f}"


def _quantity(line: Line) -> str:
    if line.unit == "s":
        minutes, seconds = divmod(line.quantity, 60)
        return f"{minutes} min {seconds:02d} s"
    if line.unit == "bytes":
        return f"{Decimal(line.quantity) / 1_000_000:.1f} MB"
    return f"{line.quantity} {line.unit}"


def render_invoice_pdf(inv: PdfInvoice) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"Invoice {inv.number}"))
    pdf.set_creator("billing")
    pdf.add_page()
    pdf.set_auto_page_break(auto=True, margin=20)
    width = pdf.epw

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(width, 10, "Invoice", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    facts = [
        ("Invoice number", inv.number),
        ("Billing account", f"{inv.account_name} ({inv.account_kind})"),
        ("Account id", inv.billing_account_id),
        ("Billing period", inv.period),
        ("Issue date", local_date(inv.issued_at).isoformat()),
        ("Due date", inv.due_date.isoformat()),
        ("Objections until", inv.objection_deadline.isoformat()),
    ]
    for label, value in facts:
        pdf.cell(45, 6, _latin1(label))
        pdf.cell(width - 45, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    cols = (width * 0.55, width * 0.22, width * 0.23)
    pdf.set_font("Helvetica", "B", 10)
    for text, w, align in zip(
        ("Description", "Quantity", "Amount excl. VAT"), cols, ("L", "R", "R"), strict=True
    ):
        pdf.cell(w, 7, text, border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", "", 10)
    if not inv.lines:
        pdf.cell(width, 7, "No charges in this period.", new_x="LMARGIN", new_y="NEXT")
    for line in inv.lines:
        pdf.cell(cols[0], 7, _latin1(line.description[:70]))
        pdf.cell(cols[1], 7, _quantity(line), align="R")
        pdf.cell(cols[2], 7, _eur(line.amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    vat_pct = f"{(VAT_RATE * 100).normalize()}%"
    for label, amount, bold in (
        ("Total excl. VAT", inv.totals.total_excl_vat, False),
        (f"VAT {vat_pct}", inv.totals.vat, False),
        ("Total incl. VAT", inv.totals.total_incl_vat, True),
    ):
        pdf.set_font("Helvetica", "B" if bold else "", 10)
        pdf.cell(cols[0] + cols[1], 7, label, align="R")
        pdf.cell(cols[2], 7, _eur(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(
        width,
        4,
        "Amounts in euro. Calls to free and emergency numbers are not shown or charged. "
        "You may object to this invoice in writing until the date above (5 Belgian working "
        "days after it was made available); after that it is accepted.",
    )
    return bytes(pdf.output())
