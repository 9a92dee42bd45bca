"""The printable insights report: a PDF with charts (cost per month, by kind, top lines).

Drawn with fpdf2's primitives (rectangles and core-font text), so it needs no plotting
library or font file; like the invoice PDF, text is folded to Latin-1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fpdf import FPDF

from billing.domain.calendar import BRUSSELS
from billing.schemas import Insights

BAR = (46, 94, 170)
GRID = (200, 200, 200)


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _eur(amount: Decimal) -> str:
    return f"EUR {amount:,.2f}"


def cost_per_month(ins: Insights) -> list[Bar]:
    """Invoiced totals excl. VAT per period (monthly fees included)."""
    return [Bar(m.period, m.total_excl_vat) for m in ins.by_month]


def usage_per_month(ins: Insights) -> list[Bar]:
    return [Bar(m.period, m.amount) for m in ins.usage_by_month]


def cost_by_kind(ins: Insights) -> list[Bar]:
    kinds: dict[str, Decimal] = {}
    for line in ins.by_line:
        for kind, usage in line.by_kind.items():
            kinds[kind] = kinds.get(kind, Decimal("0")) + usage.amount
    return [Bar(k, kinds[k]) for k in sorted(kinds)]


def top_lines(ins: Insights) -> list[Bar]:
    return [Bar(c.line, c.amount) for c in ins.top_consumers]


class _Report(FPDF):
    def vertical_bars(self, title: str, bars: Sequence[Bar], height: float = 55) -> None:
        self._title(title)
        if not bars:
            self._empty()
            return
        left, width = self.l_margin + 2, self.epw - 4
        bottom = self.get_y() + 4 + height
        peak = max((b.value for b in bars), default=Decimal("0")) or Decimal("1")
        slot = width / len(bars)
        self.set_draw_color(*GRID)
        self.line(left, bottom, left + width, bottom)
        self.set_font("Helvetica", size=7)
        for i, b in enumerate(bars):
            h = float(max(b.value, Decimal("0")) / peak) * (height - 8)
            x = left + i * slot + slot * 0.15
            self.set_fill_color(*BAR)
            self.rect(x, bottom - h, slot * 0.7, h, style="F")
            self.set_xy(left + i * slot, bottom - h - 4)
            self.cell(slot, 4, _latin1(f"{b.value:,.0f}"), align="C")
            self.set_xy(left + i * slot, bottom + 1)
            self.cell(slot, 4, _latin1(b.label), align="C")
        self.set_y(bottom + 8)

    def horizontal_bars(self, title: str, bars: Sequence[Bar]) -> None:
        self._title(title)
        if not bars:
            self._empty()
            return
        label_w, value_w = 40, 28
        bar_w = self.epw - label_w - value_w - 4
        peak = max((b.value for b in bars), default=Decimal("0")) or Decimal("1")
        self.set_font("Helvetica", size=8)
        for b in bars:
            y = self.get_y() + 1
            self.set_x(self.l_margin)
            self.cell(label_w, 5, _latin1(b.label))
            w = float(max(b.value, Decimal("0")) / peak) * bar_w
            self.set_fill_color(*BAR)
            self.rect(self.l_margin + label_w, y + 0.5, max(w, 0.3), 4, style="F")
            self.set_x(self.l_margin + label_w + bar_w + 4)
            self.cell(value_w, 5, _eur(b.value), align="R", new_x="LMARGIN", new_y="NEXT")
        self.ln(4)

    def _title(self, title: str) -> None:
        if self.get_y() > self.h - 90:
            self.add_page()
        self.set_font("Helvetica", "B", 11)
        self.cell(0, 7, _latin1(title), new_x="LMARGIN", new_y="NEXT")

    def _empty(self) -> None:
        self.set_font("Helvetica", "I", 9)
        self.cell(0, 6, "No invoiced data in this selection.", new_x="LMARGIN", new_y="NEXT")
        self.ln(3)


def render_insights_pdf(
    ins: Insights,
    *,
    heading: str,
    filters: Sequence[str],
    generated_at: datetime,
    compress: bool = True,
) -> bytes:
    pdf = _Report(format="A4")
    pdf.set_compression(compress)
    pdf.set_title("Cost insights")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, "Cost insights", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    when = generated_at.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M")
    for text in (
        heading,
        f"Periods {ins.from_} to {ins.to}; closed (invoiced) periods only",
        "Selection: " + ("; ".join(filters) if filters else "all lines you may see"),
        f"Generated {when} (Brussels)",
    ):
        pdf.cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    t = ins.totals
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(
        0,
        6,
        _latin1(
            f"{t.invoices} invoices: {_eur(t.total_excl_vat)} excl. VAT, VAT {_eur(t.vat)}, "
            f"{_eur(t.total_incl_vat)} incl. VAT"
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.vertical_bars("Cost per month (EUR excl. VAT)", cost_per_month(ins))
    pdf.vertical_bars("Usage per month (EUR excl. VAT, selection)", usage_per_month(ins))
    pdf.horizontal_bars("Usage by kind (selection)", cost_by_kind(ins))
    pdf.horizontal_bars("Top lines (selection)", top_lines(ins))
    return bytes(pdf.output())
