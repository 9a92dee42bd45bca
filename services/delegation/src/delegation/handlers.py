"""Kafka handlers: one use case each. The consumer owns the transaction and the inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import CloudEvent
from contracts.events import (
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    SimChangedV1,
    UserCreatedV1,
    UserDeactivatedV1,
)
from delegation.service import events
from servicekit.app import ServiceKit
from servicekit.consumer import Handler


def handlers_for(kit: ServiceKit) -> dict[str, Handler]:
    async def on_customer_registered(
        session: AsyncSession, event: CloudEvent, payload: CustomerRegisteredV1
    ) -> None:
        await events.customer_registered(kit, session, payload)

    async def on_user_created(
        session: AsyncSession, event: CloudEvent, payload: UserCreatedV1
    ) -> None:
        await events.user_created(kit, session, payload)

    async def on_user_deactivated(
        session: AsyncSession, event: CloudEvent, payload: UserDeactivatedV1
    ) -> None:
        await events.user_deactivated(kit, session, payload)

    async def on_customer_terminated(
        session: AsyncSession, event: CloudEvent, payload: CustomerTerminatedV1
    ) -> None:
        await events.customer_terminated(kit, session, payload)

    async def on_sim_changed(
        session: AsyncSession, event: CloudEvent, payload: SimChangedV1
    ) -> None:
        await events.sim_changed(session, payload)

    return {
        "customer.registered": on_customer_registered,
        "user.created": on_user_created,
        "user.deactivated": on_user_deactivated,
        "customer.terminated": on_customer_terminated,
        "sim.changed": on_sim_changed,
    }
