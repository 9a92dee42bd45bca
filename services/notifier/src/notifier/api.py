"""Operator routes over the delivery log: list and resend."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from notifier import backoffice
from notifier.auth import ManagedNotification
from notifier.deps import DepsDep
from servicekit.app import SessionDep
from servicekit.auth import OperatorPrincipal
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit

router = APIRouter(prefix="/v1/operator/notifications", tags=["notifications"])

StatusName = Literal["pending", "waiting_for_recipient", "sending", "sent", "failed"]


class NotificationOut(BaseModel):
    notification_id: UUID
    request_id: UUID | None
    source_event_id: str | None
    resend_of: UUID | None
    customer_id: UUID
    recipient_user_id: UUID | None
    to: str | None = None
    channel: Literal["email", "sms"]
    template: str
    locale: str | None
    status: StatusName
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


@router.get("", response_model=NotificationPage)
async def list_notifications(
    _operator: OperatorPrincipal,
    session: SessionDep,
    recipient: Annotated[
        str | None,
        Query(min_length=1, max_length=254, description="A user id or an address"),
    ] = None,
    source_event_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    request_id: UUID | None = None,
    status: StatusName | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The delivery log, newest first. ``to`` is masked: the log is for support, not for
    harvesting addresses."""
    return await backoffice.list_notifications(
        session,
        recipient=recipient,
        source_event_id=source_event_id,
        request_id=request_id,
        status=status,
        limit=limit,
        cursor=cursor,
    )


@router.post("/{notification_id}/resend", status_code=202, response_model=NotificationOut)
async def resend_notification(
    original: ManagedNotification, session: SessionDep, deps: DepsDep
) -> dict[str, Any]:
    """Send again as a new notification linked to this one; 409 while it is in progress."""
    n = await backoffice.resend(session, deps, original)
    return backoffice.view(n)
