"""Access tokens (ES256 JWT) and opaque refresh tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.scopes import audiences_of, scope_claim, scopes_of
from identity.domain import new_secret, secret_hash
from identity.keys import Keyring
from identity.models import RefreshFamily, RefreshToken
from servicekit.db import Database, utcnow

ISSUER = "portal-identity"
AUDIENCE = "portal"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    token_type: str = "Bearer"


async def mint_access_token(
    session: AsyncSession,
    keyring: Keyring,
    *,
    subject: str,
    kind: str,
    customer_id: uuid.UUID | None,
    ttl_s: int,
    issuer: str = ISSUER,
    audience: str | list[str] = AUDIENCE,
    scope: str | None = None,
) -> str:
    kid, private_key = await keyring.signer(session)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "kind": kind,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    if customer_id is not None:
        claims["cid"] = str(customer_id)
    if scope is not None:
        claims["scope"] = scope
    return jwt.encode(claims, private_key, algorithm="ES256", headers={"kid": kid})


async def issue_refresh_token(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    family_id: uuid.UUID | None,
    ttl_s: int,
    now: datetime | None = None,
) -> str:
    """A new refresh token; a new family when ``family_id`` is None (a fresh login)."""
    now = now or utcnow()
    if family_id is None:
        family_id = uuid.uuid4()
        session.add(RefreshFamily(id=family_id, user_id=user_id, created_at=now))
        await session.flush()
    token = new_secret()
    session.add(
        RefreshToken(
            token_hash=secret_hash(token),
            family_id=family_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    return token


async def mint_service_token(
    session: AsyncSession,
    keyring: Keyring,
    *,
    client_id: str,
    ttl_s: int,
    issuer: str = ISSUER,
) -> str:
    """A service's token: its scopes from ``contracts.scopes``, and as audience only the
    peers those scopes name (never the portal-wide audience of people's tokens)."""
    scopes = scopes_of(client_id)
    return await mint_access_token(
        session,
        keyring,
        subject=client_id,
        kind="service",
        customer_id=None,
        ttl_s=ttl_s,
        issuer=issuer,
        audience=audiences_of(scopes),
        scope=scope_claim(scopes),
    )


def local_service_token(
    db: Database, keyring: Keyring, *, client_id: str, ttl_s: int
) -> Callable[[], Awaitable[tuple[str, float]]]:
    """Identity's own service token (to call delegation), minted in-process rather than by
    HTTP to itself; plugged into servicekit's ``ServiceTokenProvider`` as its ``fetch``."""

    async def mint() -> tuple[str, float]:
        async with db.sessions() as session:
            token = await mint_service_token(session, keyring, client_id=client_id, ttl_s=ttl_s)
        return token, float(ttl_s)

    return mint
