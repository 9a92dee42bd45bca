"""A customer's agreement ended: its SIMs go, and so does its fleet-manager application."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.identity import CustomerTerminatedV1
from fleet import repository as repo
from fleet.deps import Deps
from fleet.models import TerminatedCustomer
from fleet.service.common import SYSTEM
from fleet.service.fleet_manager import enforce_threshold
from fleet.service.sims import deactivate_all_of_customer


async def terminate(session: AsyncSession, deps: Deps, event: CustomerTerminatedV1) -> int:
    """Deactivate every active SIM of the customer (one ``sim.changed`` each). Safe to
    apply twice: a second time finds no active SIM."""
    count = await deactivate_all_of_customer(session, deps, event.customer_id, SYSTEM)
    await enforce_threshold(session, deps, event.customer_id, reason="customer_terminated")
    if not await repo.is_terminated(session, event.customer_id):
        session.add(
            TerminatedCustomer(customer_id=event.customer_id, terminated_at=event.terminated_at)
        )
    await session.flush()
    return count
