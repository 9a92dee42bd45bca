"""Access tokens (ES256 JWT) and opaque refresh tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

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
    audience: str = AUDIENCE,
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


class LocalServiceTokens:
    """Identity's own service token (to call delegation), minted in-process rather than
    by HTTP to itself. Same interface as servicekit's ``ServiceTokenProvider``."""

    def __init__(self, db: Database, keyring: Keyring, *, client_id: str, ttl_s: int) -> None:
        self.db = db
        self.keyring = keyring
        self.client_id = client_id
        self.ttl_s = ttl_s
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at - 30:
                return self._token
            async with self.db.sessions() as session:
                self._token = await mint_access_token(
                    session,
                    self.keyring,
                    subject=self.client_id,
                    kind="service",
                    customer_id=None,
                    ttl_s=self.ttl_s,
                )
            self._expires_at = time.monotonic() + self.ttl_s
            return self._token

    def invalidate(self) -> None:
        self._token = None
