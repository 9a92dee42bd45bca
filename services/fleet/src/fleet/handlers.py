"""Kafka handlers by payload class: call one use case (the consumer checked the version)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.envelope import CloudEvent
from contracts.events.billing import UsageRatedV1, UsageRatedV2
from contracts.events.catalogue import CataloguePublishedV1
from contracts.events.identity import CustomerTerminatedV1, UserCreatedV1, UserDeactivatedV1
from fleet.deps import Deps
from fleet.service import catalogue, consumption, customers, users
from servicekit.consumer import Handler


def event_handlers(deps: Deps) -> dict[type[EventPayload], Handler]:
    async def on_usage_rated(
        session: AsyncSession, event: CloudEvent, payload: UsageRatedV1
    ) -> None:
        await consumption.count_usage(session, payload)

    async def on_usage_rated_batch(
        session: AsyncSession, event: CloudEvent, payload: UsageRatedV2
    ) -> None:
        await consumption.count_batch(session, payload)

    async def on_customer_terminated(
        session: AsyncSession, event: CloudEvent, payload: CustomerTerminatedV1
    ) -> None:
        await customers.terminate(session, deps, payload)

    async def on_catalogue_published(
        session: AsyncSession, event: CloudEvent, payload: CataloguePublishedV1
    ) -> None:
        await catalogue.store_version(session, deps, payload)

    async def on_user_created(
        session: AsyncSession, event: CloudEvent, payload: UserCreatedV1
    ) -> None:
        await users.record_user(session, deps, payload)

    async def on_user_deactivated(
        session: AsyncSession, event: CloudEvent, payload: UserDeactivatedV1
    ) -> None:
        await users.deactivate_user(session, deps, payload)

    return {
        UsageRatedV1: on_usage_rated,  # what the topic still holds from before v2
        UsageRatedV2: on_usage_rated_batch,
        CustomerTerminatedV1: on_customer_terminated,
        CataloguePublishedV1: on_catalogue_published,
        UserCreatedV1: on_user_created,
        UserDeactivatedV1: on_user_deactivated,
    }
