"""Consumption counters per SIM and billing period, fed by rated usage from billing."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.billing import RatedUsageV2, UsageRatedV1, UsageRatedV2
from fleet import repository as repo
from fleet.deps import Deps
from fleet.domain import rules
from fleet.domain.identifiers import normalize_msisdn
from fleet.models import CountedRecord, Sim
from fleet.service.catalogue import current_catalogue

log = logging.getLogger(__name__)

MB = 1024 * 1024


RatedUsage = UsageRatedV1 | RatedUsageV2  # one rated record (v1 events carry one each)


async def count_batch(session: AsyncSession, batch: UsageRatedV2) -> int:
    """Add a batch of rated records to their SIMs' counters; how many were counted."""
    return sum([await count_usage(session, usage) for usage in batch.records])


async def count_usage(session: AsyncSession, usage: RatedUsage) -> bool:
    """Add one rated record to its SIM's counters. False when it is not a SIM's usage
    (a fixed line, another operator's number) or was counted already."""
    sim = await _sim_of(session, usage)
    if sim is None:
        log.debug("rated usage for a line without a SIM here, ignored")
        return False
    if await repo.is_counted(session, usage.record_id):
        return False
    session.add(CountedRecord(record_id=usage.record_id, period=usage.period))
    await repo.add_to_counter(
        session,
        sim_id=sim.id,
        period=usage.period,
        kind=usage.kind,
        quantity=usage.quantity,
        amount=usage.amount,
    )
    await session.flush()
    return True


async def _sim_of(session: AsyncSession, usage: RatedUsage) -> Sim | None:
    if usage.sim_id is not None:
        sim = await repo.get_sim(session, usage.sim_id)
        # Trust billing's SIM id only within the customer it names.
        if sim is not None and sim.customer_id == usage.customer_id:
            return sim
    try:
        msisdn = normalize_msisdn(usage.line)
    except ValueError:
        return None  # fixed line or a number that is not a Belgian mobile
    return await repo.sim_for_line(session, usage.customer_id, msisdn, usage.started_at)


@dataclass(frozen=True)
class DataUse:
    used_bytes: int
    used_mb: float
    included_mb: int | None
    remaining_mb: float | None
    amount: Decimal


@dataclass(frozen=True)
class VoiceUse:
    used_seconds: int
    used_minutes: float
    included_minutes: int | None
    remaining_minutes: float | None
    amount: Decimal


@dataclass(frozen=True)
class SmsUse:
    used: int
    included: int | None
    remaining: float | None
    amount: Decimal


@dataclass(frozen=True)
class Consumption:
    """A SIM's usage in one period, at standard prices; None included means unlimited."""

    sim_id: uuid.UUID
    msisdn: str
    period: str
    tariff_plan: str
    data: DataUse
    voice: VoiceUse
    sms: SmsUse
    total_amount: Decimal
    updated_at: datetime | None


async def view(
    session: AsyncSession, deps: Deps, sim: Sim, period: str | None = None
) -> Consumption:
    period = period or rules.current_period(deps.now())
    by_kind = {c.kind: c for c in await repo.counters(session, sim.id, period)}
    products = await current_catalogue(session, deps)
    plan = products.plan(sim.tariff_plan)
    updated: list[datetime] = [c.updated_at for c in by_kind.values()]

    def used(kind: str) -> int:
        counter = by_kind.get(kind)
        return int(counter.quantity) if counter else 0

    def amount(kind: str) -> Decimal:
        counter = by_kind.get(kind)
        return _money(counter.amount) if counter else Decimal("0.00")

    data_bytes = used("data")
    voice_s = used("voice")
    sms = used("sms")
    included_mb = products.included_data_mb(sim.tariff_plan, sim.option_codes)
    included_min = plan.voice_min
    return Consumption(
        sim_id=sim.id,
        msisdn=sim.msisdn,
        period=period,
        tariff_plan=sim.tariff_plan,
        data=DataUse(
            used_bytes=data_bytes,
            used_mb=round(data_bytes / MB, 2),
            included_mb=included_mb,
            remaining_mb=_remaining(included_mb, data_bytes / MB),
            amount=amount("data"),
        ),
        voice=VoiceUse(
            used_seconds=voice_s,
            used_minutes=round(voice_s / 60, 2),
            included_minutes=included_min,
            remaining_minutes=_remaining(included_min, voice_s / 60),
            amount=amount("voice"),
        ),
        sms=SmsUse(
            used=sms,
            included=plan.sms,
            remaining=_remaining(plan.sms, sms),
            amount=amount("sms"),
        ),
        total_amount=sum((amount(k) for k in ("data", "voice", "sms")), Decimal("0.00")),
        updated_at=max(updated) if updated else None,
    )


def _remaining(included: int | None, used: float) -> float | None:
    if included is None:
        return None  # unlimited
    return max(round(included - used, 2), 0)


def _money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


async def apply_retention(session: AsyncSession, deps: Deps) -> int:
    """Forget counters older than the retention (billing data: 12 months)."""
    months = deps.settings.counter_retention_months
    cutoff = rules.months_before(rules.current_period(deps.now()), months)
    return await repo.delete_counters_before(session, cutoff)
