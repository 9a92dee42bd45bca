"""Every query identity makes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import (
    AuditEntry,
    ConfirmationToken,
    Credential,
    Customer,
    RefreshFamily,
    RefreshToken,
    Registration,
    SigningKey,
    Termination,
    User,
)
from servicekit.pagination import Keyset, Page
from servicekit.problems import Conflict

# Postgres advisory lock serialising appends to the audit chain.
AUDIT_CHAIN_LOCK = 0x1D_A0D17

# Lists page oldest first, as they always have: a client walking the pages sees the
# ones registered or invited meanwhile at the end.
REGISTRATIONS_OLDEST_FIRST = Keyset(Registration.created_at, Registration.id, descending=False)
USERS_OLDEST_FIRST = Keyset(User.created_at, User.id, descending=False)


async def flush_or_conflict(session: AsyncSession, detail: str) -> None:
    """Flush; a unique constraint that fires means someone got there first (409).

    The check-then-insert in the use cases gives the friendly answer; the constraints
    make the race between two concurrent requests end the same way.
    """
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(detail) from exc


def _changed(result: Result[Any]) -> bool:
    """Whether an UPDATE changed a row (its result is a CursorResult, which counts)."""
    return bool(cast(CursorResult[Any], result).rowcount)


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


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
    return _changed(result)


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
    return _changed(result)


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


# -- terminations ----------------------------------------------------------------------


async def current_termination(session: AsyncSession, customer_id: uuid.UUID) -> Termination | None:
    """The customer's pending notice, or the one that terminated it; None otherwise
    (withdrawn notices are history)."""
    stmt = (
        select(Termination)
        .where(
            Termination.customer_id == customer_id,
            Termination.status.in_(("terminating", "terminated")),
        )
        .order_by(Termination.requested_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def pending_termination(session: AsyncSession, customer_id: uuid.UUID) -> Termination | None:
    stmt = select(Termination).where(
        Termination.customer_id == customer_id, Termination.status == "terminating"
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def due_termination_ids(
    session: AsyncSession, today: date, limit: int, *, skip: Collection[uuid.UUID] = ()
) -> list[uuid.UUID]:
    """Pending notices whose effective day has come, oldest day first, except ``skip``."""
    stmt = select(Termination.id).where(
        Termination.status == "terminating", Termination.effective_on <= today
    )
    if skip:
        stmt = stmt.where(Termination.id.not_in(list(skip)))
    stmt = stmt.order_by(Termination.effective_on, Termination.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def claim_due_termination(
    session: AsyncSession, termination_id: uuid.UUID, today: date, now: datetime
) -> bool:
    """Mark a due notice terminated; False when it no longer is pending (another
    instance took it, or it was withdrawn). The conditional update is the claim: on
    PostgreSQL a concurrent claimer waits for the row and then finds nothing to update."""
    result = await session.execute(
        update(Termination)
        .where(
            Termination.id == termination_id,
            Termination.status == "terminating",
            Termination.effective_on <= today,
        )
        .values(status="terminated", terminated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def withdraw_termination(
    session: AsyncSession, termination_id: uuid.UUID, today: date, now: datetime, by: str
) -> bool:
    """Withdraw a notice that is still pending and not yet due; False otherwise (the
    job took it meanwhile, or someone else withdrew it)."""
    result = await session.execute(
        update(Termination)
        .where(
            Termination.id == termination_id,
            Termination.status == "terminating",
            Termination.effective_on > today,
        )
        .values(status="withdrawn", withdrawn_at=now, withdrawn_by=by)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def get_termination(session: AsyncSession, termination_id: uuid.UUID) -> Termination | None:
    stmt = (
        select(Termination)
        .where(Termination.id == termination_id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# -- signing keys ----------------------------------------------------------------------


async def active_signing_key(session: AsyncSession) -> SigningKey | None:
    stmt = select(SigningKey).where(SigningKey.status == "active")
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_signing_key(session: AsyncSession, kid: str) -> SigningKey | None:
    return await session.get(SigningKey, kid)


async def published_signing_keys(
    session: AsyncSession, retired_since: datetime
) -> list[SigningKey]:
    stmt = (
        select(SigningKey)
        .where(
            or_(
                SigningKey.status == "active",
                and_(SigningKey.status == "retired", SigningKey.retired_at > retired_since),
            )
        )
        .order_by(SigningKey.created_at.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def retire_active_keys(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        update(SigningKey)
        .where(SigningKey.status == "active")
        .values(status="retired", retired_at=now)
        .execution_options(synchronize_session=False)
    )


# -- audit log -------------------------------------------------------------------------


async def lock_audit_chain(session: AsyncSession) -> None:
    """Serialise appenders until commit. SQLite has a single writer already, and the
    primary key on ``seq`` turns any remaining race into a failed commit, not a fork."""
    if _is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_CHAIN_LOCK})


async def last_audit_entry(session: AsyncSession) -> AuditEntry | None:
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def audit_entries(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEntry]:
    """The whole chain in order, in batches (it only grows)."""
    last = 0
    while True:
        stmt = select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        rows = list((await session.execute(stmt)).scalars())
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        last = rows[-1].seq


async def audit_entries_for(session: AsyncSession, action: str) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
    return list((await session.execute(stmt)).scalars())
