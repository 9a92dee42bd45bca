"""Applying the contract when an invoice is made: each record's charged amount (stored,
so call details and the invoice agree), the prorated fees and the promotions."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing.domain.calendar import Period
from billing.domain.catalogue import CatalogueHistory
from billing.domain.charging import (
    SimState,
    SimTimeline,
    Subscribed,
    UsageIn,
    charge_usage,
    promotions,
    prorated_fees,
)
from billing.domain.invoice import Subscription
from billing.domain.rating import Zone
from billing.models import BillingAccount, Sim, SimHistory
from billing.repository import accounts as accounts_repo
from billing.repository import catalogue as catalogue_repo
from billing.repository import usage as usage_repo


def _usage(r: usage_repo.ToCharge) -> UsageIn:
    return UsageIn(r.record_id, r.kind, Zone(r.zone), r.started_at, r.quantity)


def _timeline(sim: Sim, history: list[SimHistory]) -> SimTimeline:
    if history:
        return SimTimeline(
            SimState(h.changed_at, h.active, Subscribed(h.tariff_plan, tuple(h.options or [])))
            for h in history
        )
    # A SIM known only from its projection (before the history was kept).
    sub = Subscribed(sim.tariff_plan, tuple(sorted(sim.options or [])))
    states = [SimState(sim.active_since, True, sub)]
    if sim.deactivated_at is not None:
        states.append(SimState(sim.deactivated_at, False, sub))
    return SimTimeline(states)


@dataclass(frozen=True)
class Charged:
    subscriptions: list[Subscription]  # promotions taken off


async def charge_invoice(
    session: AsyncSession,
    account: BillingAccount,
    invoice_id: uuid.UUID,
    period: Period,
    catalogues: CatalogueHistory,
) -> Charged:
    """Charge the records already marked with ``invoice_id``; the period's fees and
    discounts. UnknownPlan (a plan the catalogue does not price) fails the invoice."""
    sims = await accounts_repo.sims_of_account(session, account.id)
    histories = await catalogue_repo.history_of_sims(session, [s.sim_id for s in sims])
    timelines: dict[str, list[SimTimeline]] = defaultdict(list)
    by_sim: dict[uuid.UUID, SimTimeline] = {}
    for sim in sims:
        by_sim[sim.sim_id] = _timeline(sim, histories.get(sim.sim_id, []))
        timelines[sim.msisdn].append(by_sim[sim.sim_id])

    groups: dict[tuple[str, str], list[UsageIn]] = defaultdict(list)
    standard = {}
    for r in await usage_repo.usage_to_charge(session, invoice_id):
        standard[r.record_id] = r.amount
        groups[(r.line, r.period)].append(_usage(r))
    # Late records of a period already invoiced: what that invoice used counts first.
    earlier: dict[tuple[str, str], list[UsageIn]] = defaultdict(list)
    if any(period_ != str(period) for _, period_ in groups):
        lines = {line for line, _ in groups}
        periods = {p for _, p in groups if p != str(period)}
        for r in await usage_repo.invoiced_before(session, account.id, invoice_id, lines, periods):
            earlier[(r.line, r.period)].append(_usage(r))
    charged = {}
    for (line, period_of_group), records in groups.items():
        candidates = timelines.get(line, [])

        def subscription_at(moment: datetime, candidates=candidates) -> Subscribed | None:
            for timeline in candidates:  # a number reused by another SIM: the one active then
                found = timeline.at(moment)
                if found is not None:
                    return found
            return None

        charged.update(
            charge_usage(
                records,
                subscription_at,
                catalogues,
                already_invoiced=earlier.get((line, period_of_group), []),
            )
        )
    await usage_repo.set_charged_amounts(
        session, {r: a for r, a in charged.items() if a != standard[r]}
    )

    billed = await accounts_repo.sims_billed_in_period(
        session, account.id, period.starts_at, period.ends_at
    )
    subscriptions = [
        Subscription(sim.msisdn, fee)
        for sim in billed
        for fee in promotions(
            account.customer_id,
            prorated_fees(by_sim[sim.sim_id], period, catalogues),
            period,
            catalogues,
        )
    ]
    return Charged(subscriptions=subscriptions)
