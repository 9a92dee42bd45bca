"""Kafka handlers by payload class: one use case each. The consumer owns the transaction
and the inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.envelope import CloudEvent
from contracts.events import (
    CustomerRegisteredV1,
    CustomerTerminatedV1,
    SimChangedV1,
    UserCreatedV1,
    UserDeactivatedV1,
)
from delegation.deps import Deps
from delegation.service import events
from servicekit.consumer import Handler


def event_handlers(deps: Deps) -> dict[type[EventPayload], Handler]:
    async def on_customer_registered(
        session: AsyncSession, event: CloudEvent, payload: CustomerRegisteredV1
    ) -> None:
        await events.customer_registered(session, deps, payload)

    async def on_user_created(
        session: AsyncSession, event: CloudEvent, payload: UserCreatedV1
    ) -> None:
        await events.user_created(session, deps, payload)

    async def on_user_deactivated(
        session: AsyncSession, event: CloudEvent, payload: UserDeactivatedV1
    ) -> None:
        await events.user_deactivated(session, deps, payload)

    async def on_customer_terminated(
        session: AsyncSession, event: CloudEvent, payload: CustomerTerminatedV1
    ) -> None:
        await events.customer_terminated(session, deps, payload)

    async def on_sim_changed(
        session: AsyncSession, event: CloudEvent, payload: SimChangedV1
    ) -> None:
        await events.sim_changed(session, payload)

    return {
        CustomerRegisteredV1: on_customer_registered,
        UserCreatedV1: on_user_created,
        UserDeactivatedV1: on_user_deactivated,
        CustomerTerminatedV1: on_customer_terminated,
        SimChangedV1: on_sim_changed,
    }
