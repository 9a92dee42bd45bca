"""Kafka handlers by payload class: call one use case. The consumer owns the transaction
and the inbox, so a redelivered event has no second effect, and it dead-letters a payload
version nobody here handles (for replay after an upgrade).

Only these three topics are consumed. invoice.closed, einvoice.channel.changed and
sim.changed are not: einvoice and fleet ask for their messages explicitly with
notification.requested, which carries the recipient, the language and the parameters.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import EventPayload
from contracts.envelope import CloudEvent
from contracts.events.identity import UserCreatedV1, UserDeactivatedV1
from contracts.events.notification import NotificationRequestedV1
from notifier import service
from notifier.deps import Deps
from servicekit.consumer import Handler


def event_handlers(deps: Deps) -> dict[type[EventPayload], Handler]:
    async def on_notification_requested(
        session: AsyncSession, event: CloudEvent, payload: NotificationRequestedV1
    ) -> None:
        await service.request_notification(session, deps, event, payload)

    async def on_user_created(
        session: AsyncSession, event: CloudEvent, payload: UserCreatedV1
    ) -> None:
        await service.upsert_recipient(session, deps, payload)

    async def on_user_deactivated(
        session: AsyncSession, event: CloudEvent, payload: UserDeactivatedV1
    ) -> None:
        await service.deactivate_recipient(session, deps, payload)

    return {
        NotificationRequestedV1: on_notification_requested,
        UserCreatedV1: on_user_created,
        UserDeactivatedV1: on_user_deactivated,
    }
