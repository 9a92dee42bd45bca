"""Registrations, customers, users, credentials, confirmation links, refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import (
    ConfirmationToken,
    Credential,
    Customer,
    RefreshFamily,
    RefreshToken,
    Registration,
    User,
)
from identity.repository.common import changed
from servicekit.pagination import Keyset, Page

# Lists page oldest first, as they always have: a client walking the pages sees the
# ones registered or invited meanwhile at the end.
REGISTRATIONS_OLDEST_FIRST = Keyset(Registration.created_at, Registration.id, descending=False)
USERS_OLDEST_FIRST = Keyset(User.created_at, User.id, descending=False)

# -- registrations ---------------------------------------------------------------------


async def get_registration(
    session: AsyncSession, registration_id: uuid.UUID, *, for_update: bool = False
) -> Registration | None:
    stmt = select(Registration).where(Registration.id == registration_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def pending_registration_for_enterprise(session: AsyncSession, number: str) -> bool:
    stmt = select(Registration.id).where(
        Registration.enterprise_number == number, Registration.status == "pending"
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def pending_registration_for_email(session: AsyncSession, email: str) -> bool:
    stmt = select(Registration.id).where(
        Registration.registrant_email == email, Registration.status == "pending"
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def list_registrations(
    session: AsyncSession, *, status: str | None, cursor: str | None, limit: int
) -> Page[Registration]:
    stmt = select(Registration)
    if status:
        stmt = stmt.where(Registration.status == status)
    stmt = REGISTRATIONS_OLDEST_FIRST.apply(stmt, cursor, limit)
    return REGISTRATIONS_OLDEST_FIRST.page(list(await session.scalars(stmt)), limit)


# -- customers -------------------------------------------------------------------------


async def get_customer(
    session: AsyncSession, customer_id: uuid.UUID, *, for_update: bool = False
) -> Customer | None:
    if not for_update:
        return await session.get(Customer, customer_id)
    stmt = select(Customer).where(Customer.id == customer_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def active_customer_for_enterprise(session: AsyncSession, number: str) -> bool:
    stmt = select(Customer.id).where(
        Customer.enterprise_number == number, Customer.status == "active"
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def active_customer_by_enterprise(session: AsyncSession, number: str) -> Customer | None:
    stmt = select(Customer).where(Customer.enterprise_number == number, Customer.status == "active")
    return (await session.scalars(stmt.limit(1))).first()


# -- users and credentials -------------------------------------------------------------


async def get_user(
    session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False
) -> User | None:
    stmt = select(User).where(User.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).where(User.email == email)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_users(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[User]:
    stmt = select(User).where(User.customer_id == customer_id)
    if status:
        stmt = stmt.where(User.status == status)
    stmt = USERS_OLDEST_FIRST.apply(stmt, cursor, limit)
    return USERS_OLDEST_FIRST.page(list(await session.scalars(stmt)), limit)


async def users_of_customer_to_deactivate(
    session: AsyncSession, customer_id: uuid.UUID
) -> list[User]:
    """Every user of the customer not yet deactivated, locked, in id order (a fixed lock
    order, so two writers never wait on each other in a cycle)."""
    stmt = (
        select(User)
        .where(User.customer_id == customer_id, User.status != "deactivated")
        .order_by(User.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


async def get_credential(session: AsyncSession, user_id: uuid.UUID) -> Credential | None:
    return await session.get(Credential, user_id)


# -- confirmation links ----------------------------------------------------------------


async def get_confirmation(
    session: AsyncSession, token_hash: str, *, for_update: bool = False
) -> ConfirmationToken | None:
    stmt = select(ConfirmationToken).where(ConfirmationToken.token_hash == token_hash)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def use_confirmation(session: AsyncSession, token_hash: str, now: datetime) -> bool:
    """Mark a link used; False when another request used it first."""
    result = await session.execute(
        update(ConfirmationToken)
        .where(ConfirmationToken.token_hash == token_hash, ConfirmationToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return changed(result)


async def expire_confirmations_of_user(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> None:
    await session.execute(
        update(ConfirmationToken)
        .where(ConfirmationToken.user_id == user_id, ConfirmationToken.used_at.is_(None))
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


# -- refresh tokens --------------------------------------------------------------------


async def refresh_token_with_family(
    session: AsyncSession, token_hash: str
) -> tuple[RefreshToken, RefreshFamily] | None:
    stmt = (
        select(RefreshToken, RefreshFamily)
        .join(RefreshFamily, RefreshFamily.id == RefreshToken.family_id)
        .where(RefreshToken.token_hash == token_hash)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def use_refresh_token(session: AsyncSession, token_hash: str, now: datetime) -> bool:
    """Atomically mark a refresh token used; False when it already was (reuse or race)."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return changed(result)


async def revoke_family(
    session: AsyncSession, family_id: uuid.UUID, now: datetime, reason: str
) -> None:
    await session.execute(
        update(RefreshFamily)
        .where(RefreshFamily.id == family_id, RefreshFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


async def revoke_families_of_customer(
    session: AsyncSession, customer_id: uuid.UUID, now: datetime, reason: str
) -> None:
    """Revoke every open refresh-token family of the customer's users (a subquery, not a
    list of ids: a customer may have thousands of users)."""
    users = select(User.id).where(User.customer_id == customer_id)
    await session.execute(
        update(RefreshFamily)
        .where(RefreshFamily.user_id.in_(users), RefreshFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


async def expire_confirmations_of_customer(
    session: AsyncSession, customer_id: uuid.UUID, now: datetime
) -> None:
    users = select(User.id).where(User.customer_id == customer_id)
    await session.execute(
        update(ConfirmationToken)
        .where(ConfirmationToken.user_id.in_(users), ConfirmationToken.used_at.is_(None))
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


async def revoke_families_of_user(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, reason: str
) -> None:
    await session.execute(
        update(RefreshFamily)
        .where(RefreshFamily.user_id == user_id, RefreshFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
