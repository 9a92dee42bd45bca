"""One-time confirmation links for new users (registrants and invitees)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.notification import NotificationRequestedV1, RecipientV1
from identity.deps import Deps
from identity.domain import new_secret, secret_hash
from identity.models import ConfirmationToken, User

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
            locale=user.locale,  # type: ignore[arg-type]
            to=RecipientV1(user_id=user.id, email=user.email),
            params={
                "first_name": user.first_name,
                "company_name": company_name,
                "confirm_url": confirm_url,
            },
        ),
    )
