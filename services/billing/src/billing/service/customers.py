"""Billing's copy of what each customer registered (identity's ``customer.registered``):
the name, address, enterprise number and language its invoices print."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Customer
from billing.repository import customers as repo
from contracts.events.identity import CustomerRegisteredV1


async def record_customer(session: AsyncSession, p: CustomerRegisteredV1) -> Customer:
    """Insert or refresh the customer. An older event never overwrites a newer one."""
    address = p.address.model_dump(mode="json") if p.address else None
    customer = await repo.get_customer(session, p.customer_id)
    if customer is None:
        customer = Customer(
            customer_id=p.customer_id,
            enterprise_number=p.enterprise_number,
            company_name=p.company_name,
            address=address,
            language=p.language,
            registered_at=p.accepted_at,
        )
        await repo.add_customer(session, customer)
        return customer
    if p.accepted_at >= customer.registered_at:
        customer.enterprise_number = p.enterprise_number
        customer.company_name = p.company_name
        customer.address = address if address is not None else customer.address
        customer.language = p.language or customer.language
        customer.registered_at = p.accepted_at
        await session.flush()
    return customer
