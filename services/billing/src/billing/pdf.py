"""The invoice (or credit note) PDF, in the customer's language, with every mention a
Belgian invoice must carry (VAT Code art. 53, Royal Decree no. 1 art. 5): number, issue
date, supply period, supplier and customer (name, address, VAT number), each line's
description, quantity, unit price, VAT rate and amount excl. VAT, the VAT per rate,
totals, due date, IBAN, BIC and the structured communication.

fpdf2's core fonts only know Latin-1, so text is folded to it ("EUR" instead of the euro
sign, unknown characters replaced) rather than embedding a font file.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from fpdf import FPDF

from billing.domain.invoice import Line
from billing.domain.legal import (
    LegalInvoice,
    Party,
    format_enterprise_number,
    label,
    localized_description,
    unit_price,
)


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _eur(amount: Decimal) -> str:
    return f"EUR {amount:,.2f}"


def _price(amount: Decimal) -> str:
    text = f"{amount:f}"
    if "." in text:
        text = text.rstrip("0")
        whole, frac = text.split(".")
        text = f"{whole}.{frac.ljust(2, '0')}"
    return f"EUR {text}"


def _quantity(line: Line) -> str:
    if line.unit == "s":
        minutes, seconds = divmod(line.quantity, 60)
        return f"{line.quantity} s ({minutes} min {seconds:02d})"
    return f"{line.quantity} {line.unit}"


def _party_lines(party: Party, doc: LegalInvoice) -> list[str]:
    lang = doc.language
    out = [party.name]
    if party.address is not None:
        out += [party.address.street_line, f"{party.address.city_line} ({party.address.country})"]
    if party.enterprise_number:
        out.append(f"{label('vat_number', lang)}: {party.vat_number}")
        out.append(
            f"{label('enterprise_number', lang)}: "
            f"{format_enterprise_number(party.enterprise_number)}"
        )
    return out


@lru_cache(maxsize=64)
def _footer_lines(text: str, width: float) -> tuple[str, ...]:
    """The footer broken into lines once per text (language and deadline): fpdf2's line
    breaking measures the text character by character and took about half of each PDF's
    rendering time in a billing run, where thousands of invoices share one footer."""
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", "", 8)
    lines = pdf.multi_cell(width, 4, text, dry_run=True, output="LINES")
    assert isinstance(lines, list)
    return tuple(lines)


class _Cells:
    """fpdf2's ``cell`` as this document uses it (one line of text, left or right aligned,
    an optional bottom border, the same position and page break), drawn with ``text``:
    a ``cell`` costs ~40 µs of fpdf2's generic text layout, ``text`` ~5 µs, and an
    invoice has some sixty of them (most of a PDF's time in a billing run)."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf

    def cell(
        self,
        w: float,
        h: float,
        text: str = "",
        *,
        align: str = "L",
        border: str = "",
        new_x: str = "RIGHT",
        new_y: str = "TOP",
    ) -> None:
        pdf = self.pdf
        if pdf.y + h > pdf.page_break_trigger and pdf.auto_page_break:
            x = pdf.x
            pdf.add_page()
            pdf.x = x
        if text:
            dx = pdf.c_margin
            if align == "R":
                dx = w - pdf.c_margin - pdf.get_string_width(text)
            pdf.text(pdf.x + dx, pdf.y + 0.5 * h + 0.3 * pdf.font_size, text)
        if border == "B":
            pdf.line(pdf.x, pdf.y + h, pdf.x + w, pdf.y + h)
        if new_y == "NEXT":
            pdf.y += h
        if new_x == "LMARGIN":
            pdf.x = pdf.l_margin
        else:
            pdf.x += w


def render_invoice_pdf(doc: LegalInvoice) -> bytes:
    lang = doc.language
    credit = doc.kind == "credit_note"
    title = label("credit_note" if credit else "invoice", lang)
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{title} {doc.number}"))
    pdf.set_creator("billing")
    pdf.add_page()
    pdf.set_auto_page_break(auto=True, margin=20)
    width = pdf.epw
    out = _Cells(pdf)

    pdf.set_font("Helvetica", "B", 18)
    out.cell(width, 10, _latin1(title), new_x="LMARGIN", new_y="NEXT")

    # Supplier (left) and customer (right).
    half = width / 2
    pdf.set_font("Helvetica", "B", 9)
    out.cell(half, 5, _latin1(label("supplier", lang)))
    out.cell(half, 5, _latin1(label("customer", lang)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    left, right = _party_lines(doc.supplier, doc), _party_lines(doc.customer, doc)
    for i in range(max(len(left), len(right))):
        out.cell(half, 5, _latin1(left[i] if i < len(left) else ""))
        out.cell(
            half, 5, _latin1(right[i] if i < len(right) else ""), new_x="LMARGIN", new_y="NEXT"
        )
    pdf.ln(4)

    pdf.set_font("Helvetica", "", 10)
    facts = [
        (label("credit_note_number" if credit else "number", lang), doc.number),
        (label("issue_date", lang), doc.issue_date.isoformat()),
        (
            label("period", lang),
            f"{doc.period_start.isoformat()} - {doc.period_end.isoformat()}",
        ),
    ]
    if credit and doc.corrects_number:
        corrected = doc.corrects_number
        if doc.corrects_issue_date:
            corrected += f" ({doc.corrects_issue_date.isoformat()})"
        facts.append((label("corrects", lang), corrected))
    if not credit:
        facts.append((label("due_date", lang), doc.due_date.isoformat()))
    if doc.billing_account_name:
        facts.append((label("billing_account", lang), doc.billing_account_name))
    for name, value in facts:
        out.cell(50, 6, _latin1(name))
        out.cell(width - 50, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    cols = (width * 0.40, width * 0.19, width * 0.16, width * 0.07, width * 0.18)
    pdf.set_font("Helvetica", "B", 9)
    heads = ("description", "quantity", "unit_price", "vat_rate", "amount_excl_vat")
    for key, w, align in zip(heads, cols, ("L", "R", "R", "R", "R"), strict=True):
        out.cell(w, 7, _latin1(label(key, lang)), border="B", align=align)
    pdf.ln(7)
    pdf.set_font("Helvetica", "", 9)
    rate = f"{(doc.vat_rate * 100).normalize():f}%"
    if not doc.lines:
        out.cell(width, 7, _latin1(label("no_charges", lang)), new_x="LMARGIN", new_y="NEXT")
    for line in doc.lines:
        out.cell(cols[0], 7, _latin1(localized_description(line, lang)[:60]))
        out.cell(cols[1], 7, _quantity(line), align="R")
        out.cell(cols[2], 7, _price(unit_price(line)), align="R")
        out.cell(cols[3], 7, rate, align="R")
        out.cell(cols[4], 7, _eur(line.amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    label_w = sum(cols[:4])
    vat_line = (
        f"{label('vat_on', lang).format(rate=rate)} {_eur(doc.totals.total_excl_vat)}",
        doc.totals.vat,
        False,
    )
    for text, amount, bold in (
        (label("total_excl_vat", lang), doc.totals.total_excl_vat, False),
        vat_line,
        (label("total_incl_vat", lang), doc.totals.total_incl_vat, True),
    ):
        pdf.set_font("Helvetica", "B" if bold else "", 10)
        out.cell(label_w, 7, _latin1(text), align="R")
        out.cell(cols[4], 7, _eur(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    if not credit:
        pdf.set_font("Helvetica", "B", 10)
        out.cell(width, 6, _latin1(label("payment", lang)), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for key, value in (
            ("iban", doc.payment.iban),
            ("bic", doc.payment.bic),
            ("communication", doc.payment.communication),
            ("due_date", doc.due_date.isoformat()),
        ):
            out.cell(55, 6, _latin1(label(key, lang)))
            out.cell(width - 55, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)

    pdf.set_font("Helvetica", "", 8)
    if credit:
        footer = label("credit_footer", lang)
    else:
        deadline = doc.objection_deadline.isoformat() if doc.objection_deadline else "-"
        footer = label("footer", lang).format(deadline=deadline)
    for footer_line in _footer_lines(_latin1(footer), width):
        out.cell(width, 4, footer_line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
