"""Operator routes over the delivery log: list and resend."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from notifier import backoffice
from notifier.auth import ManagedNotification
from notifier.deps import DepsDep
from notifier.schemas import BulkResendIn, BulkResendOut, NotificationOut, StatusName
from servicekit.app import SessionDep
from servicekit.auth import OperatorPrincipal
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

router = APIRouter(prefix="/v1/operator/notifications", tags=["notifications"])


@router.get("")
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
) -> Page[NotificationOut]:
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


@router.post("/resend-failed", status_code=202)
async def resend_failed_notifications(
    body: BulkResendIn, _operator: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> BulkResendOut:
    """Send again the notifications that failed in a time range (say, during an outage of
    the mail server), each as a new notification linked to its original."""
    return await backoffice.resend_failed(session, deps, body)


@router.post("/{notification_id}/resend", status_code=202)
async def resend_notification(
    original: ManagedNotification, session: SessionDep, deps: DepsDep
) -> NotificationOut:
    """Send again as a new notification linked to this one; 409 while it is in progress."""
    return await backoffice.resend(session, deps, original)
