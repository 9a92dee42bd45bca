from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import ARRAY, String, Uuid, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingAccount, Sim
from billing.repository._sql import chunks
from servicekit.pagination import Keyset, Page


async def add_account(session: AsyncSession, account: BillingAccount) -> None:
    session.add(account)
    await session.flush()


# Built once: every account-scoped request reads its account first, and ``session.get``
# builds (and hashes) a new statement on each call.
_ACCOUNT = select(BillingAccount).where(BillingAccount.id == bindparam("account_id"))


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> BillingAccount | None:
    return await session.scalar(_ACCOUNT, {"account_id": account_id})


class AccountFacts(Protocol):
    """What a rights check needs of an account (``invoices.account_and_page``'s facts)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    status: str


_ACCOUNTS = BillingAccount.__table__.c


async def existing_account_ids(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, BillingAccount]:
    found: dict[uuid.UUID, BillingAccount] = {}
    for part in chunks(sorted(set(ids))):
        rows = await session.scalars(select(BillingAccount).where(BillingAccount.id.in_(part)))
        found.update({a.id: a for a in rows})
    return found


def _postgresql(session: AsyncSession) -> bool:
    assert session.bind is not None
    return session.bind.dialect.name == "postgresql"


_IDS = func.unnest(bindparam("ids", type_=ARRAY(Uuid))).table_valued("id").render_derived()
# The ids as one array parameter joined to the primary key (no IN list of up to a
# thousand parameters rendered, bound and planned per batch of usage records).
_ACCOUNT_CUSTOMERS_PG = (
    select(_ACCOUNTS.id, _ACCOUNTS.customer_id)
    .select_from(_IDS)
    .join(BillingAccount.__table__, _ACCOUNTS.id == _IDS.c.id)
)


async def customers_of_accounts(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The customer of each of these billing accounts that exists (whatever its status),
    by account id: what ingesting usage needs, without loading the accounts."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if _postgresql(session):
        rows = await session.execute(_ACCOUNT_CUSTOMERS_PG, {"ids": wanted})
        return {a: c for a, c in rows}
    found: dict[uuid.UUID, uuid.UUID] = {}
    for part in chunks(wanted):
        rows = await session.execute(
            select(_ACCOUNTS.id, _ACCOUNTS.customer_id).where(_ACCOUNTS.id.in_(part))
        )
        found.update({a: c for a, c in rows})
    return found


# Oldest first: a customer's accounts in the order they were opened.
ACCOUNTS = Keyset(BillingAccount.created_at, BillingAccount.id, descending=False)


async def page_accounts(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    only_ids: frozenset[uuid.UUID] | None,
    active_only: bool,
    cursor: str | None,
    limit: int,
) -> Page[BillingAccount]:
    q = select(BillingAccount).where(BillingAccount.customer_id == customer_id)
    if only_ids is not None:
        q = q.where(BillingAccount.id.in_(only_ids))
    if active_only:
        q = q.where(BillingAccount.status == "active")
    rows = list(await session.scalars(ACCOUNTS.apply(q, cursor, limit)))
    return ACCOUNTS.page(rows, limit)


async def terminate_customer_accounts(
    session: AsyncSession, customer_id: uuid.UUID, at: datetime
) -> int:
    result = await session.execute(
        update(BillingAccount)
        .where(BillingAccount.customer_id == customer_id, BillingAccount.status == "active")
        .values(status="terminated", terminated_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def accounts_to_bill(
    session: AsyncSession, period_start: datetime, period_end: datetime, ids: list[uuid.UUID] | None
) -> list[uuid.UUID]:
    """Exactly the requested accounts; else those that existed during the period and were
    not terminated before it began (a terminated account still gets its last invoice)."""
    q = select(BillingAccount.id)
    if ids is not None:
        q = q.where(BillingAccount.id.in_(ids))
    else:
        q = q.where(
            BillingAccount.created_at < period_end,
            or_(BillingAccount.status == "active", BillingAccount.terminated_at >= period_start),
        )
    return list(await session.scalars(q.order_by(BillingAccount.id)))


# -- SIM projection ------------------------------------------------------------------


async def get_sim(session: AsyncSession, sim_id: uuid.UUID) -> Sim | None:
    return await session.get(Sim, sim_id)


async def add_sim(session: AsyncSession, sim: Sim) -> None:
    session.add(sim)
    await session.flush()


async def sims_billed_in_period(
    session: AsyncSession, account_id: uuid.UUID, start: datetime, end: datetime
) -> list[Sim]:
    """SIMs on the account that were active at some time during [start, end)."""
    q = select(Sim).where(
        Sim.billing_account_id == account_id,
        Sim.active_since < end,
        or_(Sim.deactivated_at.is_(None), Sim.deactivated_at >= start),
    )
    return list(await session.scalars(q.order_by(Sim.msisdn)))


async def sims_of_accounts(
    session: AsyncSession, account_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Sim]]:
    """Every SIM of these accounts, by account, by number then activation."""
    found: dict[uuid.UUID, list[Sim]] = {a: [] for a in account_ids}
    for part in chunks(account_ids):
        q = select(Sim).where(Sim.billing_account_id.in_(part))
        for sim in await session.scalars(q.order_by(Sim.msisdn, Sim.active_since)):
            found[sim.billing_account_id].append(sim)
    return found


async def sims_of_account(session: AsyncSession, account_id: uuid.UUID) -> list[Sim]:
    q = select(Sim).where(Sim.billing_account_id == account_id)
    return list(await session.scalars(q.order_by(Sim.msisdn, Sim.active_since)))


_SIMS = Sim.__table__.c
_MSISDNS = (
    func.unnest(bindparam("msisdns", type_=ARRAY(String))).table_valued("msisdn").render_derived()
)
_ACTIVE_SIMS_PG = (
    select(_SIMS.msisdn, _SIMS.sim_id)
    .select_from(_MSISDNS)
    .join(Sim.__table__, _SIMS.msisdn == _MSISDNS.c.msisdn)
    .where(_SIMS.status == "active")
)


async def sim_ids_by_msisdn(session: AsyncSession, msisdns: set[str]) -> dict[str, uuid.UUID]:
    """The active SIM of each line (MSISDN) that has one. PostgreSQL: the lines as one
    array parameter joined to the ``msisdn`` index."""
    found: dict[str, uuid.UUID] = {}
    if not msisdns:
        return found
    if _postgresql(session):
        rows = await session.execute(_ACTIVE_SIMS_PG, {"msisdns": sorted(msisdns)})
        return {m: s for m, s in rows}
    for part in chunks(sorted(msisdns)):
        rows = await session.execute(
            select(Sim.msisdn, Sim.sim_id).where(Sim.msisdn.in_(part), Sim.status == "active")
        )
        found.update({m: s for m, s in rows.all()})
    return found


async def msisdns_of_sims(
    session: AsyncSession, account_id: uuid.UUID, sim_ids: set[str]
) -> list[str]:
    if not sim_ids:
        return []
    q = select(Sim.msisdn).where(
        Sim.billing_account_id == account_id, Sim.sim_id.in_([uuid.UUID(i) for i in sim_ids])
    )
    return sorted(set(await session.scalars(q)))
