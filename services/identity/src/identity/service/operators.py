"""The operator-staff account from settings, created or updated at start-up."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity import repository as repo
from identity.deps import Deps
from identity.domain import normalize_email
from identity.models import Credential, User
from servicekit.db import Database

log = logging.getLogger(__name__)


async def ensure_operator_account(db: Database, deps: Deps) -> uuid.UUID:
    """Idempotent upsert; the password is replaced when the setting changed.

    Several instances may start at once: the unique e-mail makes all but one insert
    fail, and those then find the row on their next attempt.
    """
    for _ in range(3):
        try:
            async with db.transaction() as session:
                return await upsert_operator_account(session, deps)
        except IntegrityError:
            continue
    raise RuntimeError("could not create the operator-staff account")


async def upsert_operator_account(session: AsyncSession, deps: Deps) -> uuid.UUID:
    email = normalize_email(deps.settings.operator_email)
    password = deps.settings.operator_password
    now = deps.now()
    user = await repo.user_by_email(session, email)
    if user is None:
        user = User(
            id=uuid.uuid4(),
            kind="operator",
            customer_id=None,
            email=email,
            first_name="Operator",
            last_name="Staff",
            locale="en",
            status="active",
            subprofiles=[],
            registrant=False,
            created_at=now,
            confirmed_at=now,
        )
        session.add(user)
        await session.flush()
    elif user.kind != "operator":
        raise RuntimeError(
            "IDENTITY_OPERATOR_EMAIL belongs to a customer's user, not operator staff"
        )
    user.status = "active"
    credential = await repo.get_credential(session, user.id)
    if credential is None:
        session.add(
            Credential(
                user_id=user.id,
                password_hash=await deps.passwords.hash(password),
                updated_at=now,
            )
        )
    elif not await deps.passwords.verify(credential.password_hash, password):
        credential.password_hash = await deps.passwords.hash(password)
        credential.updated_at = now
        log.info("operator-staff password updated from settings")
    return user.id
