"""Fleet's own record of the users of the customers, from identity's events.

A SIM's end user must be a service user of the SIM's customer [8.6]; fleet learns users
from ``user.created`` and ``user.deactivated`` (ADR 0020). Both tolerate any order: a
deactivation arriving first leaves a deactivated row the creation does not revive.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.identity import UserCreatedV1, UserDeactivatedV1
from fleet import repository as repo
from fleet.deps import Deps
from fleet.models import User

SERVICE_USER = "service_user"


async def record_user(session: AsyncSession, deps: Deps, payload: UserCreatedV1) -> None:
    user = await repo.get_user(session, payload.user_id)
    if user is None:
        user = User(user_id=payload.user_id, status="active")
        session.add(user)
    user.customer_id = payload.customer_id
    user.profile = payload.profile
    user.updated_at = deps.now()
    await session.flush()


async def deactivate_user(session: AsyncSession, deps: Deps, payload: UserDeactivatedV1) -> None:
    user = await repo.get_user(session, payload.user_id)
    if user is None:
        user = User(user_id=payload.user_id, customer_id=payload.customer_id, profile=None)
        session.add(user)
    user.status = "deactivated"
    user.updated_at = deps.now()
    await session.flush()


async def may_be_end_user(
    session: AsyncSession, user_id: uuid.UUID, customer_id: uuid.UUID
) -> bool:
    """An active service user of ``customer_id``."""
    user = await repo.get_user(session, user_id)
    return (
        user is not None
        and user.customer_id == customer_id
        and user.status == "active"
        and user.profile == SERVICE_USER
    )
