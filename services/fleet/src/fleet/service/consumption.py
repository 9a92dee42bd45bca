"""Consumption counters per SIM and billing period, fed by rated usage from billing."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
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
    return await count_records(session, batch.records)


async def count_usage(session: AsyncSession, usage: RatedUsage) -> bool:
    """Add one rated record to its SIM's counters. False when it is not a SIM's usage
    (a fixed line, another operator's number) or was counted already."""
    return await count_records(session, [usage]) == 1


async def count_records(session: AsyncSession, records: Sequence[RatedUsage]) -> int:
    """Add rated records to their SIMs' counters, each record id once; how many were
    counted. A record that is not a SIM's usage (a fixed line, another operator's
    number), was counted before or is repeated is left out.

    In a few statements whatever the number of records (a ``usage.rated`` v2 event holds
    up to 1,000): the records counted before, the SIMs, the records' ids, and one upsert
    of every counter they add to."""
    fresh: dict[str, RatedUsage] = {}
    for usage in records:
        fresh.setdefault(usage.record_id, usage)
    counted = await repo.counted_among(session, fresh)
    todo = [usage for record_id, usage in fresh.items() if record_id not in counted]
    sims = await _sims_of(session, todo)
    totals: dict[tuple[uuid.UUID, str, str], tuple[int, Decimal, int]] = {}
    kept: list[CountedRecord] = []
    for usage in todo:
        sim = sims.get(usage.record_id)
        if sim is None:
            continue
        kept.append(CountedRecord(record_id=usage.record_id, period=usage.period))
        key = (sim.id, usage.period, usage.kind)
        quantity, amount, n = totals.get(key, (0, Decimal("0"), 0))
        totals[key] = (quantity + usage.quantity, amount + usage.amount, n + 1)
    if len(kept) < len(todo):
        log.debug("%d rated records for lines without a SIM here, ignored", len(todo) - len(kept))
    session.add_all(kept)
    await session.flush()
    await repo.add_to_counters(session, totals)
    return len(kept)


async def _sims_of(
    session: AsyncSession, records: Sequence[RatedUsage]
) -> dict[str, repo.SimOfLine]:
    """The SIM of each record (by record id) that is a SIM's usage: the SIM billing named,
    trusted only within the record's customer; else the customer's SIM that had the line
    when the record started."""
    named = await repo.sims_by_ids(session, {u.sim_id for u in records if u.sim_id})
    found: dict[str, repo.SimOfLine] = {}
    lines: dict[str, tuple[uuid.UUID, str]] = {}
    for usage in records:
        sim = named.get(usage.sim_id) if usage.sim_id else None
        if sim is not None and sim.customer_id == usage.customer_id:
            found[usage.record_id] = sim
            continue
        with contextlib.suppress(ValueError):  # a fixed line, a number not a Belgian mobile
            lines[usage.record_id] = (usage.customer_id, normalize_msisdn(usage.line))
    candidates = await repo.sims_for_lines(session, set(lines.values()))
    for usage in records:
        line = lines.get(usage.record_id)
        if line is not None:
            sim = repo.sim_at(candidates.get(line, []), usage.started_at)
            if sim is not None:
                found[usage.record_id] = sim
    return found


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
