from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Customer
from billing.repository._sql import chunks


async def get_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    return await session.get(Customer, customer_id)


async def add_customer(session: AsyncSession, customer: Customer) -> None:
    session.add(customer)
    await session.flush()


async def customers_by_id(
    session: AsyncSession, customer_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Customer]:
    found: dict[uuid.UUID, Customer] = {}
    for part in chunks(sorted(customer_ids)):
        rows = await session.scalars(select(Customer).where(Customer.customer_id.in_(part)))
        found.update({c.customer_id: c for c in rows})
    return found
