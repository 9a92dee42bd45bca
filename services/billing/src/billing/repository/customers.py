from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Customer


async def get_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    return await session.get(Customer, customer_id)


async def add_customer(session: AsyncSession, customer: Customer) -> None:
    session.add(customer)
    await session.flush()
