"""Invoice lines, VAT and totals.

Rounding rule: every line amount (excl. VAT) is rounded half-up to cents; VAT is 21% of
the sum of the lines, rounded half-up to cents once per invoice; the total incl. VAT is
the exact sum of both. (VAT on the invoice total per rate, as Belgian VAT allows; no
per-line VAT that would not add up.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from billing.domain.charging import FeeSegment
from billing.domain.rating import to_cents

VAT_RATE = Decimal("0.21")

USAGE_DESCRIPTIONS = {"voice": "Voice calls", "sms": "Text messages (SMS)", "data": "Mobile data"}
USAGE_UNITS = {"voice": "s", "sms": "messages", "data": "bytes"}
USAGE_ORDER = ("voice", "sms", "data")


@dataclass(frozen=True)
class Line:
    category: str  # voice | sms | data | subscription
    description: str
    quantity: int
    unit: str
    amount: Decimal  # EUR excl. VAT, cents


@dataclass(frozen=True)
class Totals:
    total_excl_vat: Decimal
    vat: Decimal
    total_incl_vat: Decimal


def vat_totals(amounts: Iterable[Decimal]) -> Totals:
    excl = sum((to_cents(a) for a in amounts), Decimal("0.00"))
    vat = to_cents(excl * VAT_RATE)
    return Totals(total_excl_vat=excl, vat=vat, total_incl_vat=excl + vat)


@dataclass(frozen=True)
class UsageSum:
    kind: str
    records: int
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class Subscription:
    """One SIM's fee segment of the period (``billing.domain.charging.prorated_fees``)."""

    msisdn: str
    fee: FeeSegment


def _subscription_line(sub: Subscription) -> Line:
    fee = sub.fee
    extras = f" + {', '.join(sorted(fee.options))}" if fee.options else ""
    description = f"Subscription {fee.tariff_plan}{extras} ({sub.msisdn})"
    if not fee.full_period:
        description += (
            f", {fee.first_day:%d/%m}-{fee.last_day:%d/%m}, {fee.days}/{fee.days_in_period} days"
        )
    if fee.discount:
        description += f", promotion {', '.join(fee.promotions)}: -{fee.discount} EUR"
    if fee.full_period:
        return Line("subscription", description, 1, "month", fee.net)
    return Line("subscription", description, fee.days, "days", fee.net)


def build_lines(usage: Iterable[UsageSum], subscriptions: Iterable[Subscription]) -> list[Line]:
    """Subscription lines first (per SIM by number, then by date; promotions taken off),
    then one line per usage kind."""
    lines = [
        _subscription_line(sub)
        for sub in sorted(subscriptions, key=lambda s: (s.msisdn, s.fee.first_day))
    ]
    by_kind = {u.kind: u for u in usage}
    for kind in USAGE_ORDER:
        u = by_kind.get(kind)
        if u is None or u.records == 0:
            continue
        lines.append(
            Line(
                category=kind,
                description=f"{USAGE_DESCRIPTIONS[kind]} ({u.records} records)",
                quantity=u.quantity,
                unit=USAGE_UNITS[kind],
                amount=to_cents(u.amount),
            )
        )
    return lines


def invoice_number(year: int, sequence: int) -> str:
    return f"INV-{year:04d}-{sequence:06d}"
