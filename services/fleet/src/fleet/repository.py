"""Every query of the fleet service lives here."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import Select, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.domain.catalogue import Catalogue
from fleet.models import (
    CatalogueVersion,
    CountedRecord,
    DeviceUse,
    FleetManager,
    Sim,
    SimHistory,
    TerminatedCustomer,
    UsageCounter,
    User,
)
from servicekit.db import utcnow
from servicekit.pagination import Keyset, Page

# -- SIMs --------------------------------------------------------------------------


async def get_sim(
    session: AsyncSession, sim_id: uuid.UUID, *, for_update: bool = False
) -> Sim | None:
    query = select(Sim).where(Sim.id == sim_id)
    if for_update:
        # Serialises concurrent changes of one SIM (ignored by SQLite, which has one
        # writer anyway); populate_existing refreshes a SIM already in the session.
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def duplicate_fields(
    session: AsyncSession, *, iccid: str, msisdn: str, imsi: str
) -> list[str]:
    """Which of the identifiers another SIM already uses (an MSISDN only if active)."""
    rows = (
        await session.execute(
            select(Sim.iccid, Sim.msisdn, Sim.imsi, Sim.status).where(
                or_(
                    Sim.iccid == iccid,
                    Sim.imsi == imsi,
                    (Sim.msisdn == msisdn) & (Sim.status == "active"),
                )
            )
        )
    ).all()
    found: set[str] = set()
    for row in rows:
        if row.iccid == iccid:
            found.add("iccid")
        if row.imsi == imsi:
            found.add("imsi")
        if row.msisdn == msisdn and row.status == "active":
            found.add("msisdn")
    return sorted(found)


def _sims_query(
    customer_id: uuid.UUID,
    *,
    only_ids: Collection[uuid.UUID] | None,
    status: str | None,
    tariff_plan: str | None,
    q: Sequence[str] | None,
) -> Select[Sim]:
    query = select(Sim).where(Sim.customer_id == customer_id)
    if only_ids is not None:
        query = query.where(Sim.id.in_(list(only_ids)))
    if status:
        query = query.where(Sim.status == status)
    if tariff_plan:
        query = query.where(Sim.tariff_plan == tariff_plan)
    if q:
        likes = [f"%{_escape_like(term)}%" for term in q]
        query = query.where(
            or_(
                *(
                    column.like(like, escape="\\")
                    for like in likes
                    for column in (Sim.msisdn, Sim.iccid, Sim.imsi)
                )
            )
        )
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# A fleet list reads like a phone book: by number (a recycled number's SIMs by id).
SIMS_BY_NUMBER = Keyset(Sim.msisdn, Sim.id, descending=False)


async def list_sims(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    only_ids: Collection[uuid.UUID] | None = None,
    status: str | None = None,
    tariff_plan: str | None = None,
    q: Sequence[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Sim]:
    """One page of SIMs in (msisdn, id) order, after the ``cursor``'s position."""
    query = _sims_query(customer_id, only_ids=only_ids, status=status, tariff_plan=tariff_plan, q=q)
    rows = (await session.execute(SIMS_BY_NUMBER.apply(query, cursor, limit))).scalars()
    return SIMS_BY_NUMBER.page(list(rows), limit)


async def count_active_sims(session: AsyncSession, customer_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Sim)
        .where(Sim.customer_id == customer_id, Sim.status == "active")
    )
    return int(count or 0)


async def count_active_sims_locked(session: AsyncSession, customer_id: uuid.UUID) -> int:
    """Count while locking the rows: a deactivation still in flight is waited for, so
    a decision taken on the count cannot miss it."""
    ids = (
        await session.execute(
            select(Sim.id)
            .where(Sim.customer_id == customer_id, Sim.status == "active")
            .with_for_update()
        )
    ).scalars()
    return len(list(ids))


async def active_sims_of_customer(session: AsyncSession, customer_id: uuid.UUID) -> list[Sim]:
    query = (
        select(Sim)
        .where(Sim.customer_id == customer_id, Sim.status == "active")
        .order_by(Sim.created_at)
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


class SimOfLine(NamedTuple):
    """What counting usage needs of a SIM (no ORM entity: nothing else in the transaction
    sees a half-loaded SIM)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    msisdn: str
    status: str
    deactivated_at: datetime | None


_SIM_OF_LINE = (Sim.id, Sim.customer_id, Sim.msisdn, Sim.status, Sim.deactivated_at)


async def sims_for_lines(
    session: AsyncSession, lines: Collection[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], list[SimOfLine]]:
    """Each (customer, MSISDN)'s SIMs that ever had the number, newest first."""
    found: dict[tuple[uuid.UUID, str], list[SimOfLine]] = {}
    if not lines:
        return found
    rows = await session.execute(
        select(*_SIM_OF_LINE)
        .where(tuple_(Sim.customer_id, Sim.msisdn).in_(list(lines)))
        .order_by(Sim.created_at.desc())
    )
    for row in rows:
        sim = SimOfLine(*row)
        found.setdefault((sim.customer_id, sim.msisdn), []).append(sim)
    return found


class _Held(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def deactivated_at(self) -> datetime | None: ...


_S = TypeVar("_S", bound=_Held)


def sim_at(candidates: Sequence[_S], at: datetime) -> _S | None:
    """Of one line's SIMs (newest first), the one that had the number at ``at``: the active
    one, else the one deactivated most recently after ``at`` (usage may arrive after a
    deactivation)."""
    for sim in candidates:
        if sim.status == "active":
            return sim
    for sim in candidates:
        if sim.deactivated_at is None or sim.deactivated_at >= at:
            return sim
    return None


async def sims_by_ids(
    session: AsyncSession, sim_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, SimOfLine]:
    if not sim_ids:
        return {}
    rows = await session.execute(select(*_SIM_OF_LINE).where(Sim.id.in_(list(sim_ids))))
    return {row.id: SimOfLine(*row) for row in rows}


# -- history -----------------------------------------------------------------------


# Newest first, by insertion order: two changes in the same instant keep their order.
HISTORY_NEWEST_FIRST = Keyset(SimHistory.seq)


async def list_history(
    session: AsyncSession, sim_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[SimHistory]:
    query = HISTORY_NEWEST_FIRST.apply(
        select(SimHistory).where(SimHistory.sim_id == sim_id), cursor, limit
    )
    rows = (await session.execute(query)).scalars()
    return HISTORY_NEWEST_FIRST.page(list(rows), limit)


# -- devices -----------------------------------------------------------------------


async def current_device(session: AsyncSession, sim_id: uuid.UUID) -> DeviceUse | None:
    return (
        await session.execute(
            select(DeviceUse)
            .where(DeviceUse.sim_id == sim_id, DeviceUse.until.is_(None))
            .order_by(DeviceUse.since.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def device_uses_of_sim(session: AsyncSession, sim_id: uuid.UUID) -> list[DeviceUse]:
    return list(
        (
            await session.execute(
                select(DeviceUse).where(DeviceUse.sim_id == sim_id).order_by(DeviceUse.since.desc())
            )
        ).scalars()
    )


async def device_uses_of_imei(
    session: AsyncSession, customer_id: uuid.UUID, imei: str
) -> list[DeviceUse]:
    return list(
        (
            await session.execute(
                select(DeviceUse)
                .where(DeviceUse.customer_id == customer_id, DeviceUse.imei == imei)
                .order_by(DeviceUse.since.desc())
            )
        ).scalars()
    )


async def close_device_uses(session: AsyncSession, sim_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(DeviceUse)
        .where(DeviceUse.sim_id == sim_id, DeviceUse.until.is_(None))
        .values(until=at)
    )


# -- consumption -------------------------------------------------------------------


async def counted_among(session: AsyncSession, record_ids: Collection[str]) -> set[str]:
    """Which of these usage records were counted already."""
    if not record_ids:
        return set()
    rows = await session.scalars(
        select(CountedRecord.record_id).where(CountedRecord.record_id.in_(list(record_ids)))
    )
    return set(rows)


async def add_to_counter(
    session: AsyncSession,
    *,
    sim_id: uuid.UUID,
    period: str,
    kind: str,
    quantity: int,
    amount: Decimal,
    records: int = 1,
) -> None:
    """Add ``records`` records' ``quantity`` and ``amount`` to a SIM's counter of the
    period and kind (created on first use)."""
    now = utcnow()
    result = await session.execute(
        update(UsageCounter)
        .where(
            UsageCounter.sim_id == sim_id,
            UsageCounter.period == period,
            UsageCounter.kind == kind,
        )
        .values(
            quantity=UsageCounter.quantity + quantity,
            amount=UsageCounter.amount + amount,
            records=UsageCounter.records + records,
            updated_at=now,
        )
    )
    # execute() is typed as Result; an UPDATE's result is a CursorResult, with rowcount.
    if result.rowcount == 0:  # type: ignore[attr-defined]  # see above
        session.add(
            UsageCounter(
                sim_id=sim_id,
                period=period,
                kind=kind,
                quantity=quantity,
                amount=amount,
                records=records,
                updated_at=now,
            )
        )
        await session.flush()


@functools.cache
def _counter_upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (sim, period, kind) DO UPDATE adding to the counter, built
    once per dialect (executed with many rows: compiled once, cached)."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(UsageCounter)
    return insert.on_conflict_do_update(
        index_elements=[UsageCounter.sim_id, UsageCounter.period, UsageCounter.kind],
        set_={
            "quantity": UsageCounter.quantity + insert.excluded.quantity,
            "amount": UsageCounter.amount + insert.excluded.amount,
            "records": UsageCounter.records + insert.excluded.records,
            "updated_at": insert.excluded.updated_at,
        },
    )


async def add_to_counters(
    session: AsyncSession, totals: dict[tuple[uuid.UUID, str, str], tuple[int, Decimal, int]]
) -> None:
    """``add_to_counter`` for many counters in one statement: per (SIM, period, kind) the
    quantity, amount and number of records to add (an upsert, on PostgreSQL and SQLite
    alike). Sorted, so concurrent transactions lock the counters they share in the same
    order."""
    if not totals:
        return
    now = utcnow()
    await session.execute(
        _counter_upsert(session.get_bind().dialect.name),
        [
            {
                "sim_id": sim_id,
                "period": period,
                "kind": kind,
                "quantity": quantity,
                "amount": amount,
                "records": records,
                "updated_at": now,
            }
            for (sim_id, period, kind), (quantity, amount, records) in sorted(totals.items())
        ],
    )


async def counters(session: AsyncSession, sim_id: uuid.UUID, period: str) -> list[UsageCounter]:
    return list(
        (
            await session.execute(
                select(UsageCounter).where(
                    UsageCounter.sim_id == sim_id, UsageCounter.period == period
                )
            )
        ).scalars()
    )


async def delete_counters_before(session: AsyncSession, period: str) -> int:
    """Counters and counted-record ids of periods older than ``period``."""
    result = await session.execute(delete(UsageCounter).where(UsageCounter.period < period))
    await session.execute(delete(CountedRecord).where(CountedRecord.period < period))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # a DELETE's CursorResult


# -- fleet manager and customers ----------------------------------------------------


async def get_fleet_manager(
    session: AsyncSession, customer_id: uuid.UUID, *, for_update: bool = False
) -> FleetManager | None:
    query = select(FleetManager).where(FleetManager.customer_id == customer_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def is_terminated(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(TerminatedCustomer.customer_id).where(TerminatedCustomer.customer_id == customer_id)
    )
    return found is not None


# -- price catalogue (billing's, ADR 0014) ------------------------------------------


async def catalogue_version_numbers(session: AsyncSession) -> list[int]:
    q = select(CatalogueVersion.version).order_by(CatalogueVersion.version)
    return list(await session.scalars(q))


async def catalogue_versions(session: AsyncSession) -> list[CatalogueVersion]:
    q = select(CatalogueVersion).order_by(CatalogueVersion.version)
    return list(await session.scalars(q))


async def add_catalogue_version(session: AsyncSession, row: CatalogueVersion) -> bool:
    """False when that version is already stored (a redelivery, or billing published
    it again): a version never changes."""
    if await session.get(CatalogueVersion, row.version) is not None:
        return False
    session.add(row)
    await session.flush()
    return True


class CatalogueCache:
    """The parsed versions, re-read only when the stored version numbers change."""

    def __init__(self) -> None:
        self._numbers: list[int] = []
        self._versions: list[Catalogue] = []

    async def versions(self, session: AsyncSession) -> list[Catalogue]:
        numbers = await catalogue_version_numbers(session)
        if numbers != self._numbers:
            rows = await catalogue_versions(session)
            self._versions = [Catalogue.from_document(r.document) for r in rows]
            self._numbers = [r.version for r in rows]
        return self._versions


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """A user as identity's events told fleet (``fleet.service.users``)."""
    return await session.get(User, user_id)
