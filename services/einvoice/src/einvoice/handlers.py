"""Kafka handlers: each calls one use case in the consumer's transaction (inbox-guarded)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import CloudEvent
from contracts.events.billing import InvoiceClosedV1
from contracts.events.identity import CustomerTerminatedV1
from einvoice import service
from einvoice.service import Context
from servicekit.consumer import Handler, PermanentError


def build(ctx: Context) -> dict[str, Handler]:
    async def on_invoice_closed(session: AsyncSession, event: CloudEvent, payload: object) -> None:
        if not isinstance(payload, InvoiceClosedV1):
            raise PermanentError(f"unsupported invoice.closed payload {event.dataschema}")
        await service.deliver_invoice(ctx, session, payload)

    async def on_customer_terminated(
        session: AsyncSession, event: CloudEvent, payload: object
    ) -> None:
        if not isinstance(payload, CustomerTerminatedV1):
            raise PermanentError(f"unsupported customer.terminated payload {event.dataschema}")
        await service.terminate_customer(ctx, session, payload.customer_id)

    return {
        "invoice.closed": on_invoice_closed,
        "customer.terminated": on_customer_terminated,
    }
