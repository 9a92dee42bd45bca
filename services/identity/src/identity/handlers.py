"""Kafka handlers by payload class: parse nothing (the consumer did), call one use case."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.envelope import CloudEvent
from contracts.events.audit import AuditRecordedV1
from identity.deps import Deps
from identity.service import audit_trail
from servicekit.consumer import Handler


def event_handlers(deps: Deps) -> dict[type[EventPayload], Handler]:
    async def on_audit_recorded(
        session: AsyncSession, event: CloudEvent, p: AuditRecordedV1
    ) -> None:
        await audit_trail.append_audit_event(session, deps, p)

    return {AuditRecordedV1: on_audit_recorded}
