"""Invoice lines, VAT and totals; the subscription price list.

Rounding rule: every line amount (excl. VAT) is rounded half-up to cents; VAT is 21% of
the sum of the lines, rounded half-up to cents once per invoice; the total incl. VAT is
the exact sum of both. (VAT on the invoice total per rate, as Belgian VAT allows; no
per-line VAT that would not add up.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.domain.rating import to_cents

VAT_RATE = Decimal("0.21")

# Monthly fees excl. VAT by tariff plan / option code; fleet uses the same codes. Used
# when sim.changed carries no monthly_fee (older producers).
PLAN_FEES: dict[str, Decimal] = {
    "SMART_S": Decimal("15.00"),
    "SMART_M": Decimal("25.00"),
    "SMART_L": Decimal("40.00"),
    "DATA_ONLY": Decimal("10.00"),
}
OPTION_FEES: dict[str, Decimal] = {
    "ROAMING_EU": Decimal("5.00"),
    "DATA_5GB": Decimal("7.50"),
    "INTL_CALLS": Decimal("4.00"),
}

USAGE_DESCRIPTIONS = {"voice": "Voice calls", "sms": "Text messages (SMS)", "data": "Mobile data"}
USAGE_UNITS = {"voice": "s", "sms": "messages", "data": "bytes"}
USAGE_ORDER = ("voice", "sms", "data")


class UnknownPlan(ValueError):
    pass


def monthly_fee(tariff_plan: str, options: Iterable[str]) -> Decimal:
    """The list price of a plan with its options; UnknownPlan if a code is not priced."""
    try:
        fee = PLAN_FEES[tariff_plan]
    except KeyError:
        raise UnknownPlan(f"tariff plan {tariff_plan!r} has no list price") from None
    for option in options:
        try:
            fee += OPTION_FEES[option]
        except KeyError:
            raise UnknownPlan(f"option {option!r} has no list price") from None
    return fee


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
    msisdn: str
    tariff_plan: str
    options: Sequence[str]
    fee: Decimal


def build_lines(usage: Iterable[UsageSum], subscriptions: Iterable[Subscription]) -> list[Line]:
    """Subscription lines first (one per SIM, by number), then one line per usage kind."""
    lines: list[Line] = []
    for sub in sorted(subscriptions, key=lambda s: s.msisdn):
        extras = f" + {', '.join(sorted(sub.options))}" if sub.options else ""
        lines.append(
            Line(
                category="subscription",
                description=f"Subscription {sub.tariff_plan}{extras} ({sub.msisdn})",
                quantity=1,
                unit="month",
                amount=to_cents(sub.fee),
            )
        )
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
