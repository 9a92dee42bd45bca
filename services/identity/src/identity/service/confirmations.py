"""One-time confirmation links for new users (registrants and invitees): mail one,
look at one, confirm with one."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.notification import NotificationRequestedV1, RecipientV1
from identity import audit
from identity import repository as repo
from identity.deps import Deps
from identity.domain import (
    LinkState,
    confirmation_state,
    new_secret,
    password_problems,
    secret_hash,
)
from identity.models import ConfirmationToken, Credential, User
from identity.schemas import LinkStatus
from servicekit.problems import BadRequest, Gone, Problem, ValidationFailed

USER_CONFIRMATION = "user_confirmation"


async def request_user_confirmation(
    session: AsyncSession, deps: Deps, user: User, *, company_name: str
) -> None:
    """Store a new link (its hash only) and ask the notifier to mail it.

    The link travels only on ``notification.requested``, which only the notifier reads.
    """
    assert user.customer_id is not None
    token = new_secret()
    now = deps.now()
    session.add(
        ConfirmationToken(
            token_hash=secret_hash(token),
            user_id=user.id,
            purpose=USER_CONFIRMATION,
            created_at=now,
            expires_at=now + timedelta(seconds=deps.settings.confirmation_ttl_s),
        )
    )
    confirm_url = f"{deps.settings.public_url}/v1/users/confirm?{urlencode({'token': token})}"
    await deps.outbox.add(
        session,
        NotificationRequestedV1(
            request_id=uuid.uuid4(),
            customer_id=user.customer_id,
            channel="email",
            template=USER_CONFIRMATION,
            locale=user.locale,  # type: ignore[arg-type]  # a Locale, validated on input
            to=RecipientV1(user_id=user.id, email=user.email),
            params={
                "first_name": user.first_name,
                "company_name": company_name,
                "confirm_url": confirm_url,
            },
        ),
    )


def _link_problem(state: LinkState) -> Problem:
    if state is LinkState.UNKNOWN:
        return BadRequest("The confirmation link is not valid", slug="invalid-confirmation-token")
    word = "already used" if state is LinkState.USED else "expired"
    return Gone(f"The confirmation link has {word}", slug=f"confirmation-token-{state.value}")


async def check_link(session: AsyncSession, deps: Deps, token: str) -> LinkStatus:
    """Whether a link is still good, and whether confirming it needs a password.

    Reading a link must not consume it: mail scanners and link previews follow links.
    """
    link = await repo.get_confirmation(session, secret_hash(token))
    state = confirmation_state(
        found=link is not None,
        used_at=link.used_at if link else None,
        expires_at=link.expires_at if link else None,
        now=deps.now(),
    )
    if state is not LinkState.VALID or link is None:
        raise _link_problem(state)
    user = await repo.get_user(session, link.user_id)
    if user is None or user.status not in ("invited", "pending_confirmation"):
        raise _link_problem(LinkState.USED)
    credential = await repo.get_credential(session, user.id)
    return LinkStatus(
        status="valid", password_required=credential is None, expires_at=link.expires_at
    )


async def confirm_user(session: AsyncSession, deps: Deps, token: str, password: str | None) -> User:
    token_hash = secret_hash(token)
    now = deps.now()
    link = await repo.get_confirmation(session, token_hash, for_update=True)
    state = confirmation_state(
        found=link is not None,
        used_at=link.used_at if link else None,
        expires_at=link.expires_at if link else None,
        now=now,
    )
    if state is not LinkState.VALID or link is None:
        raise _link_problem(state)
    user = await repo.get_user(session, link.user_id, for_update=True)
    if user is None or user.status not in ("invited", "pending_confirmation"):
        raise _link_problem(LinkState.USED)
    credential = await repo.get_credential(session, user.id)
    if credential is None:
        if not password:
            raise ValidationFailed(
                "A password is required to confirm an invited account",
                errors=[{"field": "password", "message": "required for invited users"}],
            )
        problems = password_problems(password, user.email)
        if problems:
            message = "password " + "; ".join(problems)
            raise ValidationFailed(message, errors=[{"field": "password", "message": message}])
        session.add(
            Credential(
                user_id=user.id, password_hash=await deps.passwords.hash(password), updated_at=now
            )
        )
    if not await repo.use_confirmation(session, token_hash, now):
        raise _link_problem(LinkState.USED)
    user.status = "active"
    user.confirmed_at = now
    await audit.record(
        session, "user.confirmed", actor=str(user.id), customer_id=user.customer_id, now=now
    )
    return user
