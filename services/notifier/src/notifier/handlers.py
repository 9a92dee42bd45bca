"""Kafka handlers: parse, call one use case. The consumer owns the transaction and the
inbox, so a redelivered event has no second effect.

Only these three topics are consumed. invoice.closed, einvoice.channel.changed and
sim.changed are not: einvoice and fleet ask for their messages explicitly with
notification.requested, which carries the recipient, the language and the parameters.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import CloudEvent
from contracts.events.identity import UserCreatedV1, UserDeactivatedV1
from contracts.events.notification import NotificationRequestedV1
from notifier import service
from notifier.service import Deps
from servicekit.consumer import Handler, PermanentError

P = TypeVar("P")


def _expect(payload: Any, cls: type[P]) -> P:
    if not isinstance(payload, cls):
        # A schema version this code does not handle yet: dead-letter it for replay
        # after an upgrade rather than guessing.
        raise PermanentError(f"unsupported payload {type(payload).__name__}")
    return payload


def build_handlers(deps: Deps) -> dict[str, Handler]:
    async def on_notification_requested(
        session: AsyncSession, event: CloudEvent, payload: Any
    ) -> None:
        request = _expect(payload, NotificationRequestedV1)
        await service.request_notification(deps, session, event, request)

    async def on_user_created(session: AsyncSession, event: CloudEvent, payload: Any) -> None:
        await service.upsert_recipient(deps, session, _expect(payload, UserCreatedV1))

    async def on_user_deactivated(session: AsyncSession, event: CloudEvent, payload: Any) -> None:
        await service.deactivate_recipient(session, _expect(payload, UserDeactivatedV1))

    return {
        "notification.requested": on_notification_requested,
        "user.created": on_user_created,
        "user.deactivated": on_user_deactivated,
    }
