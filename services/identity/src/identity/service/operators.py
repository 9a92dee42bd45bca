"""The operator-staff account from settings, created or updated at start-up."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.exc import IntegrityError

from identity import repository as repo
from identity.context import Identity
from identity.domain import normalize_email
from identity.models import Credential, User
from servicekit.db import utcnow

log = logging.getLogger(__name__)


async def ensure_operator_account(ctx: Identity) -> uuid.UUID:
    """Idempotent upsert; the password is replaced when the setting changed.

    Several instances may start at once: the unique e-mail makes all but one insert
    fail, and those then find the row on their next attempt.
    """
    email = normalize_email(ctx.settings.operator_email)
    password = ctx.settings.operator_password
    for _ in range(3):
        try:
            async with ctx.kit.db.transaction() as session:
                now = utcnow()
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
                            password_hash=await ctx.passwords.hash(password),
                            updated_at=now,
                        )
                    )
                elif not await ctx.passwords.verify(credential.password_hash, password):
                    credential.password_hash = await ctx.passwords.hash(password)
                    credential.updated_at = now
                    log.info("operator-staff password updated from settings")
                return user.id
        except IntegrityError:
            continue
    raise RuntimeError("could not create the operator-staff account")
