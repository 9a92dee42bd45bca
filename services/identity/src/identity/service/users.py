"""The caller, and the users of a customer: invite, list, deactivate."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from identity import audit
from identity import repository as repo
from identity.deps import Deps
from identity.domain import contract_ended
from identity.models import Customer, User
from identity.profiles import CurrentProfile
from identity.schemas import InviteIn
from identity.service.confirmations import request_user_confirmation
from identity.service.events import user_created, user_deactivated
from servicekit.auth import Principal
from servicekit.pagination import Page
from servicekit.problems import Conflict, Unauthorized, ValidationFailed


async def me(session: AsyncSession, principal: Principal) -> User:
    user = await repo.get_user(session, principal.user_id)  # 403 for service tokens
    if user is None or user.status == "deactivated":
        raise Unauthorized("This account is no longer active")
    return user


async def current_profile(deps: Deps, user: User) -> CurrentProfile:
    """What delegation holds for the user now; operator staff have no customer profile."""
    if user.kind == "operator" or user.customer_id is None:
        return CurrentProfile(None, [])
    return await deps.profiles.current(user.customer_id, user.id)


async def invite(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    customer: Customer,
    form: InviteIn,
) -> User:
    """Invite a user into ``customer`` (one the caller administers and, for an access
    owner, whose owners the caller appoints: delegation's answers, ``api.auth``)."""
    now = deps.now()
    if contract_ended(form.contract.ends_on, now.date()):
        raise ValidationFailed(
            "The contract has already ended",
            errors=[{"field": "contract.ends_on", "message": "must not be in the past"}],
        )
    if await repo.user_by_email(session, form.email):
        raise Conflict("This e-mail address already has an account", slug="email-taken")
    user = User(
        id=uuid.uuid4(),
        kind="user",
        customer_id=customer.id,
        email=form.email,
        first_name=form.first_name,
        last_name=form.last_name,
        locale=form.locale,
        mobile=form.mobile,
        status="invited",
        profile=form.profile,
        subprofiles=list(form.subprofiles),
        contract_kind=form.contract.kind,
        contract_ends_on=form.contract.ends_on,
        registrant=False,
        invited_by=None if principal.is_operator or principal.is_service else principal.user_id,
        created_at=now,
    )
    session.add(user)
    await repo.flush_or_conflict(session, "This e-mail address already has an account")
    await deps.outbox.add(session, user_created(user, now))
    await request_user_confirmation(session, deps, user, company_name=customer.company_name)
    await audit.record(
        session,
        "user.invited",
        actor=principal.subject,
        outbox=deps.outbox,
        actor_kind=principal.kind,
        subject=user.id,
        customer_id=customer.id,
        details={"profile": user.profile or ""},
        now=now,
    )
    return user


async def list_users(
    session: AsyncSession, customer: Customer, *, status: str | None, cursor: str | None, limit: int
) -> Page[User]:
    return await repo.list_users(session, customer.id, status=status, cursor=cursor, limit=limit)


async def deactivate(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    user: User,
    *,
    reason: str = "removed",
) -> User:
    """Deactivate a user (one of a customer the caller administers, locked: ``api.auth``):
    no more logins, refresh families revoked, open links expired, and
    ``user.deactivated`` tells delegation to drop every right. Idempotent. Whether the
    caller may remove this user is delegation's answer (``api.auth.managed_user``)."""
    if user.status == "deactivated":
        return user
    if not (principal.is_operator or principal.is_service) and principal.subject == str(user.id):
        raise Conflict("You cannot remove yourself; ask another administrator")
    now = deps.now()
    user.status = "deactivated"
    user.deactivated_at = now
    user.deactivation_reason = reason
    await repo.revoke_families_of_user(session, user.id, now, "user_deactivated")
    await repo.expire_confirmations_of_user(session, user.id, now)
    await deps.outbox.add(session, user_deactivated(user, reason, now))
    await audit.record(
        session,
        "user.deactivated",
        actor=principal.subject,
        outbox=deps.outbox,
        actor_kind=principal.kind,
        subject=user.id,
        customer_id=user.customer_id,
        details={"reason": reason},
        now=now,
    )
    return user


async def rotate_signing_key(session: AsyncSession, deps: Deps, operator: Principal) -> str:
    kid = await deps.keyring.rotate(session)
    await audit.record(session, "signing_key.rotated", actor=operator.subject, subject=kid)
    return kid
