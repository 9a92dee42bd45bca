"""What the operator routes require, declared in their signatures.

The delivery log is operator staff's alone: ``OperatorPrincipal`` answers 403 to anyone
else before anything is looked up, so no delegation check is needed (operators pass
every one).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends

from notifier import repository as repo
from notifier.models import Notification
from servicekit.app import SessionDep
from servicekit.auth import OperatorPrincipal
from servicekit.problems import NotFound


async def managed_notification(
    notification_id: UUID, _operator: OperatorPrincipal, session: SessionDep
) -> Notification:
    """The notification in the path, locked: a resend decides on its current status."""
    notification = await repo.get_notification(session, notification_id, for_update=True)
    if notification is None:
        raise NotFound("No such notification")
    return notification


ManagedNotification = Annotated[Notification, Depends(managed_notification)]
