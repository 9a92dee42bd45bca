"""Kafka handlers: check the payload's version, call one use case."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import CloudEvent
from contracts.events.billing import UsageRatedV1
from contracts.events.identity import CustomerTerminatedV1
from fleet.service import consumption, customers
from servicekit.app import ServiceKit
from servicekit.consumer import Handler, PermanentError


def handlers(kit: ServiceKit) -> dict[str, Handler]:
    async def on_usage_rated(session: AsyncSession, event: CloudEvent, payload: object) -> None:
        if not isinstance(payload, UsageRatedV1):
            raise PermanentError(f"usage.rated {event.dataschema} is not handled yet")
        await consumption.count_usage(session, payload)

    async def on_customer_terminated(
        session: AsyncSession, event: CloudEvent, payload: object
    ) -> None:
        if not isinstance(payload, CustomerTerminatedV1):
            raise PermanentError(f"customer.terminated {event.dataschema} is not handled yet")
        await customers.terminate(session, kit, payload)

    return {"usage.rated": on_usage_rated, "customer.terminated": on_customer_terminated}
