"""Kafka handlers by payload class: parse nothing (the consumer did), call one use case."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from billing.deps import Deps
from billing.service import accounts, customers, usage
from contracts.base import EventPayload
from contracts.envelope import CloudEvent
from contracts.events.billing import UsageRecordV1
from contracts.events.fleet import SimChangedV1
from contracts.events.identity import CustomerRegisteredV1, CustomerTerminatedV1
from servicekit.consumer import Handler, PermanentError


def event_handlers(deps: Deps) -> dict[type[EventPayload], Handler]:
    async def on_usage_record(session: AsyncSession, event: CloudEvent, p: UsageRecordV1) -> None:
        try:
            await usage.ingest(session, deps, [p])
        except usage.UsageRejected as exc:
            # An unknown billing account will not become known by retrying: dead-letter
            # it (it can be replayed once the account exists).
            raise PermanentError(str(exc)) from exc

    async def on_sim_changed(session: AsyncSession, event: CloudEvent, p: SimChangedV1) -> None:
        await accounts.apply_sim_change(session, p)

    async def on_customer_terminated(
        session: AsyncSession, event: CloudEvent, p: CustomerTerminatedV1
    ) -> None:
        await accounts.terminate_customer(session, p)

    async def on_customer_registered(
        session: AsyncSession, event: CloudEvent, p: CustomerRegisteredV1
    ) -> None:
        await customers.record_customer(session, p)

    return {
        CustomerRegisteredV1: on_customer_registered,
        UsageRecordV1: on_usage_record,
        SimChangedV1: on_sim_changed,
        CustomerTerminatedV1: on_customer_terminated,
    }
