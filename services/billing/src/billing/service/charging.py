"""Applying the contract when an invoice is made: each record's charged amount (stored,
so call details and the invoice agree), the prorated fees and the promotions."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from billing.domain.calendar import Period
from billing.domain.catalogue import CatalogueHistory
from billing.domain.charging import (
    FeeSegment,
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
class ToInvoice:
    """What charging one account's invoice needs, loaded for a chunk of accounts at once."""

    sims: list[Sim]  # by number, then activation
    histories: dict[uuid.UUID, list[SimHistory]]
    records: list[usage_repo.ToCharge]  # uninvoiced, up to the end of the period
    earlier: list[usage_repo.ToCharge]  # same lines and earlier periods, already invoiced


async def load_to_invoice(
    session: AsyncSession, account_ids: list[uuid.UUID], period: Period
) -> dict[uuid.UUID, ToInvoice]:
    """Usage, SIMs and SIM histories of these accounts in a few queries (the records are
    row-locked until the transaction ends: see ``usage_repo.usage_to_invoice``)."""
    records = await usage_repo.usage_to_invoice(session, account_ids, period.ends_at)
    sims = await accounts_repo.sims_of_accounts(session, account_ids)
    histories = await catalogue_repo.history_of_sims(
        session, [s.sim_id for found in sims.values() for s in found]
    )
    out = {}
    for account_id in account_ids:
        mine = records[account_id]
        earlier: list[usage_repo.ToCharge] = []
        # Late records of a period already invoiced: what that invoice used counts first.
        late = {r.period for r in mine if r.period != str(period)}
        if late:
            lines = {r.line for r in mine if r.period in late}
            earlier = await usage_repo.invoiced_before(session, account_id, lines, late)
        out[account_id] = ToInvoice(
            sims=sims[account_id],
            histories={s.sim_id: histories.get(s.sim_id, []) for s in sims[account_id]},
            records=mine,
            earlier=earlier,
        )
    return out


@dataclass(frozen=True)
class Charged:
    amounts: dict[str, Decimal]  # what the invoice charges for each record, by record id
    subscriptions: list[Subscription]  # promotions taken off


def charge_account(
    account: BillingAccount,
    facts: ToInvoice,
    period: Period,
    catalogues: CatalogueHistory,
    fees: dict[tuple[SimState, ...], list[FeeSegment]] | None = None,
) -> Charged:
    """Charge the account's records and the period's fees and discounts; plain data in,
    plain data out. UnknownPlan (a plan the catalogue does not price) fails the invoice.

    ``fees``: prorated fees by SIM history, shared by the accounts of a chunk (most SIMs
    of a run have the same history, and prorating walks every day of the period)."""
    fees = {} if fees is None else fees
    timelines: dict[str, list[SimTimeline]] = defaultdict(list)
    by_sim: dict[uuid.UUID, SimTimeline] = {}
    for sim in facts.sims:
        by_sim[sim.sim_id] = _timeline(sim, facts.histories.get(sim.sim_id, []))
        timelines[sim.msisdn].append(by_sim[sim.sim_id])

    groups: dict[tuple[str, str], list[UsageIn]] = defaultdict(list)
    for r in facts.records:
        groups[(r.line, r.period)].append(_usage(r))
    earlier: dict[tuple[str, str], list[UsageIn]] = defaultdict(list)
    for r in facts.earlier:
        earlier[(r.line, r.period)].append(_usage(r))
    charged: dict[str, Decimal] = {}
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

    start, end = period.starts_at, period.ends_at
    billed = [  # SIMs on the account at some time during the period, by number
        sim
        for sim in facts.sims
        if sim.active_since < end and (sim.deactivated_at is None or sim.deactivated_at >= start)
    ]
    subscriptions = []
    for sim in billed:
        timeline = by_sim[sim.sim_id]
        key = tuple(timeline.states)
        if key not in fees:
            fees[key] = prorated_fees(timeline, period, catalogues)
        for fee in promotions(account.customer_id, fees[key], period, catalogues):
            subscriptions.append(Subscription(sim.msisdn, fee))
    return Charged(amounts=charged, subscriptions=subscriptions)
