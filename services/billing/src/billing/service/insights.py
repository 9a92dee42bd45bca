"""Invoice insights: totals by month, category and line; top consumers.

Only closed (invoiced) data: an open period is never shown as billed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain.calendar import Period
from billing.repository import invoices as invoices_repo
from billing.repository import usage as usage_repo
from billing.service.runs import parse_period
from servicekit.problems import ValidationFailed

TOP_CONSUMERS = 10
MAX_MONTHS = 36
ZERO = Decimal("0.00")


async def insights(
    session: AsyncSession,
    deps: Deps,
    customer_id: uuid.UUID,
    *,
    account_ids: frozenset[uuid.UUID] | None,
    period_from: str | None,
    period_to: str | None,
) -> dict[str, Any]:
    """Of the customer's accounts in ``account_ids`` (None = all of them)."""
    to = parse_period(period_to) if period_to else Period.of(deps.now()).previous()
    frm = parse_period(period_from) if period_from else _months_back(to, 11)
    if frm > to:
        raise ValidationFailed(
            "'from' is after 'to'", errors=[{"field": "from", "message": "after 'to'"}]
        )
    if (to.year - frm.year) * 12 + to.month - frm.month >= MAX_MONTHS:
        raise ValidationFailed(f"At most {MAX_MONTHS} months at once")

    accounts = sorted(account_ids) if account_ids is not None else None
    result: dict[str, Any] = {
        "customer_id": str(customer_id),
        "from": str(frm),
        "to": str(to),
    }
    if accounts == []:
        return {**result, **_empty()}
    invoices = await invoices_repo.invoices_of_customer(
        session, customer_id, accounts, str(frm), str(to)
    )
    months: dict[str, dict[str, Any]] = {}
    for inv in invoices:
        m = months.setdefault(
            inv.period,
            {"period": inv.period, "invoices": 0, "total_excl_vat": ZERO, "vat": ZERO,
             "total_incl_vat": ZERO},
        )  # fmt: skip
        m["invoices"] += 1
        m["total_excl_vat"] += inv.total_excl_vat
        m["vat"] += inv.vat
        m["total_incl_vat"] += inv.total_incl_vat
    categories = await invoices_repo.line_totals_by_category(session, [i.id for i in invoices])
    rows = await usage_repo.invoiced_usage_by_line(
        session, customer_id, accounts, str(frm), str(to)
    )
    lines: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"amount": ZERO, "records": 0, "by_kind": {}}
    )
    for r in rows:
        entry = lines[r.line]
        entry["amount"] += r.amount
        entry["records"] += r.records
        k = entry["by_kind"].setdefault(r.kind, {"records": 0, "quantity": 0, "amount": ZERO})
        k["records"] += r.records
        k["quantity"] += r.quantity
        k["amount"] += r.amount
    by_line = [{"line": line, **v} for line, v in sorted(lines.items())]
    top = sorted(by_line, key=lambda v: (-v["amount"], v["line"]))[:TOP_CONSUMERS]
    return {
        **result,
        "totals": {
            "invoices": len(invoices),
            "total_excl_vat": sum((i.total_excl_vat for i in invoices), ZERO),
            "vat": sum((i.vat for i in invoices), ZERO),
            "total_incl_vat": sum((i.total_incl_vat for i in invoices), ZERO),
        },
        "by_month": [months[p] for p in sorted(months)],
        "by_category": [{"category": c, "amount": a} for c, a in sorted(categories.items())],
        "by_line": by_line,
        "top_consumers": [{"line": v["line"], "amount": v["amount"]} for v in top],
    }


def _empty() -> dict[str, Any]:
    return {
        "totals": {"invoices": 0, "total_excl_vat": ZERO, "vat": ZERO, "total_incl_vat": ZERO},
        "by_month": [],
        "by_category": [],
        "by_line": [],
        "top_consumers": [],
    }


def _months_back(p: Period, n: int) -> Period:
    for _ in range(n):
        p = p.previous()
    return p
