"""Invoice insights: totals by month, category and line; top consumers.

Only closed (invoiced) data: an open period is never shown as billed. Filters: a billing
account narrows everything; line, kind and zone narrow the usage parts (``usage_by_month``,
``by_line``, ``top_consumers``), since invoice totals and categories (monthly fees
included) are not per line.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.domain.calendar import Period
from billing.models import Invoice
from billing.repository import accounts as accounts_repo
from billing.repository import invoices as invoices_repo
from billing.repository import usage as usage_repo
from billing.repository.usage import ANY_USAGE, InsightRow, UsageFilter
from billing.schemas import (
    Category,
    Consumer,
    Insights,
    KindUsage,
    LineUsage,
    Month,
    Totals,
    UsageMonth,
)
from billing.service.runs import parse_period
from servicekit.problems import NotFound, ValidationFailed

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
    billing_account_id: uuid.UUID | None = None,
    usage: UsageFilter = ANY_USAGE,
) -> Insights:
    """Of the customer's accounts in ``account_ids`` (None = all of them); only
    ``billing_account_id`` if given, which must be one of those (404 otherwise, as for
    an account the caller cannot see)."""
    to = parse_period(period_to) if period_to else Period.of(deps.now()).previous()
    frm = parse_period(period_from) if period_from else _months_back(to, 11)
    if frm > to:
        raise ValidationFailed(
            "'from' is after 'to'", errors=[{"field": "from", "message": "after 'to'"}]
        )
    if (to.year - frm.year) * 12 + to.month - frm.month >= MAX_MONTHS:
        raise ValidationFailed(f"At most {MAX_MONTHS} months at once")

    accounts = sorted(account_ids) if account_ids is not None else None
    if billing_account_id is not None:
        account = await accounts_repo.get_account(session, billing_account_id)
        if (
            account is None
            or account.customer_id != customer_id
            or (account_ids is not None and billing_account_id not in account_ids)
        ):
            raise NotFound("No such billing account")
        accounts = [billing_account_id]
    invoices: list[Invoice] = []
    categories: dict[str, Decimal] = {}
    rows: list[InsightRow] = []
    if accounts != []:
        invoices = await invoices_repo.invoices_of_customer(
            session, customer_id, accounts, str(frm), str(to)
        )
        categories = await invoices_repo.line_totals_by_category(session, [i.id for i in invoices])
        rows = await usage_repo.invoiced_usage_by_line(
            session, customer_id, accounts, str(frm), str(to), usage
        )
    by_line = _by_line(rows)
    top = sorted(by_line, key=lambda v: (-v.amount, v.line))[:TOP_CONSUMERS]
    return Insights(
        customer_id=customer_id,
        from_=str(frm),
        to=str(to),
        totals=_totals(invoices),
        by_month=_by_month(invoices),
        usage_by_month=_usage_by_month(rows),
        by_category=[Category(category=c, amount=a) for c, a in sorted(categories.items())],
        by_line=by_line,
        top_consumers=[Consumer(line=v.line, amount=v.amount) for v in top],
    )


def _totals(invoices: list[Invoice]) -> Totals:
    return Totals(
        invoices=len(invoices),
        total_excl_vat=sum((i.total_excl_vat for i in invoices), ZERO),
        vat=sum((i.vat for i in invoices), ZERO),
        total_incl_vat=sum((i.total_incl_vat for i in invoices), ZERO),
    )


def _by_month(invoices: list[Invoice]) -> list[Month]:
    periods: dict[str, list[Invoice]] = {}
    for inv in invoices:
        periods.setdefault(inv.period, []).append(inv)
    return [
        Month(period=p, **_totals(periods[p]).model_dump(mode="python")) for p in sorted(periods)
    ]


def _usage_by_month(rows: list[InsightRow]) -> list[UsageMonth]:
    months: dict[str, UsageMonth] = {}
    for r in rows:
        entry = months.setdefault(r.period, UsageMonth(period=r.period, records=0, amount=ZERO))
        entry.records += r.records
        entry.amount += r.amount
    return [months[p] for p in sorted(months)]


def _by_line(rows: list[InsightRow]) -> list[LineUsage]:
    lines: dict[str, LineUsage] = {}
    for r in rows:
        entry = lines.setdefault(r.line, LineUsage(line=r.line, amount=ZERO, records=0, by_kind={}))
        entry.amount += r.amount
        entry.records += r.records
        kind = entry.by_kind.setdefault(r.kind, KindUsage(records=0, quantity=0, amount=ZERO))
        kind.records += r.records
        kind.quantity += r.quantity
        kind.amount += r.amount
    return [lines[line] for line in sorted(lines)]


def _months_back(p: Period, n: int) -> Period:
    for _ in range(n):
        p = p.previous()
    return p
