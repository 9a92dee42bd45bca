"""What users export: call details, invoice lists and insights, as CSV or XLSX.

Every export is one or more ``Table``s: a CSV holds one table (several are stacked with a
``section`` column), an XLSX workbook one sheet per table. Amounts are exact decimals in
CSV and number cells in XLSX; text that a spreadsheet would run as a formula is quoted
(CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl import Workbook

from billing.domain.calendar import BRUSSELS
from billing.schemas import Insights, InvoiceSummary, UsageItem

COLUMNS = (
    "record_id",
    "started_at",
    "line",
    "kind",
    "destination",
    "zone",
    "quantity",
    "unit",
    "amount_eur_excl_vat",
)
UNITS = {"voice": "s", "sms": "messages", "data": "bytes"}


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[str]
    rows: list[list[Any]]


def _row(item: UsageItem) -> list[Any]:
    return [
        item.record_id,
        item.started_at.astimezone(BRUSSELS).isoformat(),
        item.line,
        item.kind,
        item.destination,
        item.zone,
        item.quantity,
        UNITS.get(item.kind, ""),
        item.amount,
    ]


def _safe_cell(value: Any) -> Any:
    # A cell starting with = + - @ would be a formula in a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _is_number(value):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    return value[1:].replace(" ", "").isdigit()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return _safe_cell(value) if isinstance(value, str) else f"{value}"


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # a number cell (cents are exact in a double at this size)
    return _safe_cell(value)


def tables_to_csv(tables: Sequence[Table]) -> bytes:
    """One table as is; several stacked, each row led by its table's title."""
    out = io.StringIO()
    writer = csv.writer(out)
    if len(tables) == 1:
        writer.writerow(tables[0].columns)
        for row in tables[0].rows:
            writer.writerow([_csv_cell(v) for v in row])
        return out.getvalue().encode("utf-8")
    width = max(len(t.columns) for t in tables)
    writer.writerow(["section", *[f"column_{i + 1}" for i in range(width)]])
    for table in tables:
        writer.writerow([table.title, *table.columns])
        for row in table.rows:
            writer.writerow([table.title, *[_csv_cell(v) for v in row]])
    return out.getvalue().encode("utf-8")


def tables_to_xlsx(tables: Sequence[Table]) -> bytes:
    wb = Workbook(write_only=True)
    for table in tables:
        ws = wb.create_sheet(title=table.title[:31] or "Sheet")
        ws.append(list(table.columns))
        for row in table.rows:
            ws.append([_xlsx_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- call details ----------------------------------------------------------------------


def usage_table(items: Iterable[UsageItem], title: str = "Usage") -> Table:
    return Table(title, COLUMNS, [_row(item) for item in items])


def to_csv(items: Iterable[UsageItem]) -> bytes:
    return tables_to_csv([usage_table(items)])


def to_xlsx(items: Iterable[UsageItem], title: str) -> bytes:
    return tables_to_xlsx([usage_table(items, title)])


# -- invoice lists ---------------------------------------------------------------------

INVOICE_COLUMNS = (
    "number",
    "period",
    "issued_at",
    "due_date",
    "objection_deadline",
    "total_eur_excl_vat",
    "vat_eur",
    "total_eur_incl_vat",
    "currency",
    "pdf_only",
)


def invoices_table(items: Iterable[InvoiceSummary]) -> Table:
    return Table(
        "Invoices",
        INVOICE_COLUMNS,
        [
            [
                i.number,
                i.period,
                i.issued_at.astimezone(BRUSSELS).isoformat(),
                i.due_date.isoformat(),
                i.objection_deadline.isoformat(),
                i.totals.total_excl_vat,
                i.totals.vat,
                i.totals.total_incl_vat,
                i.currency,
                "yes" if i.pdf_only else "no",
            ]
            for i in items
        ],
    )


# -- insights --------------------------------------------------------------------------


def insights_tables(ins: Insights) -> list[Table]:
    money = ("total_eur_excl_vat", "vat_eur", "total_eur_incl_vat")
    return [
        Table(
            "By month",
            ("period", "invoices", *money),
            [
                [m.period, m.invoices, m.total_excl_vat, m.vat, m.total_incl_vat]
                for m in ins.by_month
            ],
        ),
        Table(
            "Usage by month",
            ("period", "records", "amount_eur_excl_vat"),
            [[m.period, m.records, m.amount] for m in ins.usage_by_month],
        ),
        Table(
            "By category",
            ("category", "amount_eur_excl_vat"),
            [[c.category, c.amount] for c in ins.by_category],
        ),
        Table(
            "By line",
            ("line", "kind", "records", "quantity", "amount_eur_excl_vat"),
            [
                [line.line, kind, usage.records, usage.quantity, usage.amount]
                for line in ins.by_line
                for kind, usage in sorted(line.by_kind.items())
            ],
        ),
        Table(
            "Top consumers",
            ("line", "amount_eur_excl_vat"),
            [[c.line, c.amount] for c in ins.top_consumers],
        ),
    ]
