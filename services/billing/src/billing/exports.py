"""Call details as CSV or XLSX (what a user may export of an invoice)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook

from billing.domain.calendar import BRUSSELS
from billing.schemas import UsageItem

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


def to_csv(items: Iterable[UsageItem]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow([_safe_cell(v) if isinstance(v, str) else f"{v}" for v in _row(item)])
    return out.getvalue().encode("utf-8")


def to_xlsx(items: Iterable[UsageItem], title: str) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31] or "Usage")
    ws.append(list(COLUMNS))
    for item in items:
        row = _row(item)
        row[-1] = float(row[-1])  # a number cell (cents are exact in a double at this size)
        ws.append([_safe_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
