"""The caller, and the users of a customer: invite, list, deactivate."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from identity import audit
from identity import repository as repo
from identity.deps import Deps
from identity.domain import contract_ended, may_administer_profile
from identity.models import Customer, User
from identity.schemas import InviteIn
from identity.service.confirmations import request_user_confirmation
from identity.service.events import user_created, user_deactivated
from servicekit.auth import Principal
from servicekit.pagination import Page
from servicekit.problems import Conflict, Forbidden, Unauthorized, ValidationFailed


async def me(session: AsyncSession, principal: Principal) -> User:
    user = await repo.get_user(session, principal.user_id)  # 403 for service tokens
    if user is None or user.status == "deactivated":
        raise Unauthorized("This account is no longer active")
    return user


async def _actor_profile(session: AsyncSession, principal: Principal) -> str | None:
    """The acting user's profile as identity recorded it (None for operator/service)."""
    if principal.is_operator or principal.is_service:
        return None
    actor = await repo.get_user(session, principal.user_id)
    return actor.profile if actor else None


def _check_profile_power(principal: Principal, actor_profile: str | None, target: str) -> None:
    if principal.is_operator or principal.is_service:
        return
    if not may_administer_profile(actor_profile, target):
        raise Forbidden(f"Your profile may not administer a user with profile {target}")


async def invite(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    customer: Customer,
    form: InviteIn,
) -> User:
    """Invite a user into ``customer`` (one the caller administers, ``api.auth``)."""
    _check_profile_power(principal, await _actor_profile(session, principal), form.profile)
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
    ``user.deactivated`` tells delegation to drop every right. Idempotent."""
    if user.status == "deactivated":
        return user
    if not (principal.is_operator or principal.is_service) and principal.subject == str(user.id):
        raise Conflict("You cannot remove yourself; ask another administrator")
    _check_profile_power(principal, await _actor_profile(session, principal), user.profile or "")
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
