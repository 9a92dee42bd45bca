"""What the invoice charges: the contract, applied when the invoice is made.

Pure functions over plain data (rules in ADR 0014 and the service README):

* Usage: per SIM and billing period, records are taken in order of use (start time, then
  record id). The national voice minutes, national SMS and data the plan and its options
  include are consumed first; only what is beyond them is charged, at the prices of the
  catalogue version valid when the record started. ``None`` means unlimited. A record
  that crosses the end of an allowance is charged only for its part beyond it (voice:
  seconds, after the first-minute rule; data: started MB of the bytes beyond). Calls to
  the EU or the world are charged at an option's ``voice_rates`` for that zone when the
  SIM has such an option (INTL_CALLS), else at standard prices.
* Monthly fees are prorated by day: each local (Brussels) day of the period is charged
  with the subscription the SIM has at the end of that day, at the catalogue version
  valid then. Consecutive days with the same plan, options and version form one segment,
  charged ``monthly fee x days / days in the period`` rounded half-up to cents.
* Promotions of the catalogue version valid at the end of the period take their
  percentage off the matching segments' fees (rounded half-up per segment), shown on the
  subscription line itself: no negative line (a Peppol invoice line's price may not be
  negative, rule BR-27).
* Every record's amount is rounded half-up to cents; invoice lines are sums of records.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from billing.domain.calendar import BRUSSELS, Period
from billing.domain.catalogue import CatalogueHistory, CatalogueVersion, UnknownPlan
from billing.domain.rating import BYTES_PER_MB, Zone, billable_seconds, started_mb, to_cents

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Subscribed:
    """A SIM's subscription at a moment."""

    tariff_plan: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsageIn:
    record_id: str
    kind: str  # voice | sms | data
    zone: Zone
    started_at: datetime
    quantity: int  # seconds | messages | bytes


@dataclass
class _Used:
    voice_s: int = 0
    sms: int = 0
    data_bytes: int = 0


def _covered(quantity: int, allowance: int | None, used: int) -> int:
    """How much of ``quantity`` the allowance still covers (None = unlimited)."""
    if allowance is None:
        return quantity
    return max(0, min(quantity, allowance - used))


def charge_usage(
    records: Iterable[UsageIn],
    subscription_at: Callable[[datetime], Subscribed | None],
    catalogues: CatalogueHistory,
    *,
    already_invoiced: Iterable[UsageIn] = (),
) -> dict[str, Decimal]:
    """The charged amount of each record of ONE SIM in ONE billing period, by record id.

    ``already_invoiced``: records of the same SIM and period on an earlier invoice (a
    late record lands on the next one); they used the allowances first. A record when
    the SIM had no known subscription is charged at standard prices."""
    used = _Used()
    for r in sorted(already_invoiced, key=lambda r: (r.started_at, r.record_id)):
        _charge_one(r, catalogues.valid_at(r.started_at), subscription_at(r.started_at), used)
    charged: dict[str, Decimal] = {}
    for r in sorted(records, key=lambda r: (r.started_at, r.record_id)):
        cat = catalogues.valid_at(r.started_at)
        sub = subscription_at(r.started_at)
        charged[r.record_id] = to_cents(_charge_one(r, cat, sub, used))
    return charged


def _charge_one(r: UsageIn, cat: CatalogueVersion, sub: Subscribed | None, used: _Used) -> Decimal:
    tariff = cat.prices.zones[r.zone]
    try:
        plan = cat.plan(sub.tariff_plan) if sub is not None else None
        options = [cat.option(c) for c in sub.options] if sub is not None else []
    except UnknownPlan:
        plan, options = None, []
    if r.kind == "voice":
        seconds = billable_seconds(r.quantity)
        per_minute = tariff.voice_per_minute
        for o in options:
            if o.voice_rates and r.zone in o.voice_rates:
                per_minute = min(per_minute, o.voice_rates[r.zone])
        if plan is not None and r.zone == Zone.NATIONAL:
            allowance = None if plan.voice_min is None else plan.voice_min * 60
            covered = _covered(seconds, allowance, used.voice_s)
            used.voice_s += seconds
            seconds -= covered
        return per_minute * seconds / 60
    if r.kind == "sms":
        messages = r.quantity
        if plan is not None and r.zone == Zone.NATIONAL:
            covered = _covered(messages, plan.sms, used.sms)
            used.sms += messages
            messages -= covered
        return tariff.sms_per_message * messages
    if r.kind == "data":
        octets = r.quantity
        if plan is not None:
            allowance = (
                None
                if plan.data_mb is None
                else (plan.data_mb + sum(o.extra_data_mb for o in options)) * BYTES_PER_MB
            )
            covered = _covered(octets, allowance, used.data_bytes)
            used.data_bytes += octets
            octets -= covered
        return cat.prices.data_per_mb * started_mb(octets)
    raise ValueError(f"unknown usage kind {r.kind!r}")


# -- monthly fees ---------------------------------------------------------------------


@dataclass(frozen=True)
class SimState:
    """One entry of a SIM's history: from ``at`` on, active with this subscription or not."""

    at: datetime
    active: bool
    subscription: Subscribed


class SimTimeline:
    """A SIM's history, to ask what it had at a moment."""

    def __init__(self, states: Iterable[SimState]) -> None:
        self.states = sorted(states, key=lambda s: s.at)

    def at(self, moment: datetime) -> Subscribed | None:
        current: Subscribed | None = None
        for s in self.states:
            if s.at > moment:
                break
            current = s.subscription if s.active else None
        return current


@dataclass(frozen=True)
class FeeSegment:
    tariff_plan: str
    options: tuple[str, ...]
    first_day: date
    last_day: date
    days: int
    days_in_period: int
    monthly_fee: Decimal  # plan + options, of the catalogue version of these days
    amount: Decimal  # prorated, cents, before promotions
    discount: Decimal = ZERO  # of the promotions, cents (positive)
    promotions: tuple[str, ...] = ()  # e.g. "M10 -10%"

    @property
    def full_period(self) -> bool:
        return self.days == self.days_in_period

    @property
    def net(self) -> Decimal:
        return self.amount - self.discount


def _days(period: Period) -> list[date]:
    first = date(period.year, period.month, 1)
    nxt = period.next()
    last = date(nxt.year, nxt.month, 1)
    return [first + timedelta(days=i) for i in range((last - first).days)]


def _end_of_day(day: date) -> datetime:
    """The last instant of a Brussels day (microsecond resolution)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=BRUSSELS) - timedelta(
        microseconds=1
    )


def prorated_fees(
    timeline: SimTimeline, period: Period, catalogues: CatalogueHistory
) -> list[FeeSegment]:
    """The SIM's monthly fees for the period, one segment per run of equal days."""
    days = _days(period)
    runs: list[tuple[Subscribed, CatalogueVersion, list[date]]] = []
    for day in days:
        moment = _end_of_day(day)
        sub = timeline.at(moment)
        if sub is None:
            continue
        cat = catalogues.valid_at(moment)
        last = runs[-1] if runs else None
        if last and last[0] == sub and last[1] is cat and last[2][-1] == day - timedelta(days=1):
            last[2].append(day)
        else:
            runs.append((sub, cat, [day]))
    segments = []
    for sub, cat, run_days in runs:
        fee = cat.monthly_fee(sub.tariff_plan, sub.options)
        segments.append(
            FeeSegment(
                tariff_plan=sub.tariff_plan,
                options=tuple(sub.options),
                first_day=run_days[0],
                last_day=run_days[-1],
                days=len(run_days),
                days_in_period=len(days),
                monthly_fee=fee,
                amount=to_cents(fee * len(run_days) / len(days)),
            )
        )
    return segments


# -- promotions -----------------------------------------------------------------------


def promotions(
    customer_id: uuid.UUID,
    fees: Sequence[FeeSegment],
    period: Period,
    catalogues: CatalogueHistory,
) -> list[FeeSegment]:
    """The fees with the promotions valid at the end of the period taken off (fees only:
    never usage, never the unbilled view)."""
    cat = catalogues.valid_at(period.ends_at - timedelta(microseconds=1))
    out = []
    for fee in fees:
        found = [p for p in cat.promotions if p.applies(customer_id, fee.tariff_plan)]
        if not found:
            out.append(fee)
            continue
        discount = sum((to_cents(fee.amount * p.percent / 100) for p in found), ZERO)
        out.append(
            replace(
                fee,
                discount=min(discount, fee.amount),
                promotions=tuple(f"{p.code} -{p.percent}%" for p in found),
            )
        )
    return out
