"""Kafka handlers by payload class: each calls one use case in the consumer's transaction
(inbox-guarded)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.envelope import CloudEvent
from contracts.events.billing import InvoiceClosedV1
from contracts.events.identity import CustomerTerminatedV1
from einvoice import service
from einvoice.deps import Deps
from servicekit.consumer import Handler


def event_handlers(deps: Deps) -> dict[type[EventPayload], Handler]:
    async def on_invoice_closed(
        session: AsyncSession, event: CloudEvent, payload: InvoiceClosedV1
    ) -> None:
        await service.deliver_invoice(session, deps, payload)

    async def on_customer_terminated(
        session: AsyncSession, event: CloudEvent, payload: CustomerTerminatedV1
    ) -> None:
        await service.terminate_customer(session, deps, payload.customer_id)

    return {
        InvoiceClosedV1: on_invoice_closed,
        CustomerTerminatedV1: on_customer_terminated,
    }
