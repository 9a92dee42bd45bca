"""Token-signing keys: EC P-256, generated once, stored encrypted in identity's database.

Every instance signs with the one active key and publishes the active key plus recently
retired ones, so tokens signed before a rotation still verify until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity import repository as repo
from identity.models import SigningKey
from servicekit.db import Database, utcnow

log = logging.getLogger(__name__)


class KeyPassphraseError(RuntimeError):
    pass


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def new_signing_key(passphrase: str) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    kid = _thumbprint(jwk)
    jwk.update({"kid": kid, "use": "sig", "alg": "ES256"})
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    return SigningKey(
        kid=kid, status="active", algorithm="ES256", private_key_pem=pem, public_jwk=jwk
    )


class Keyring:
    def __init__(self, db: Database, *, passphrase: str, retired_grace_s: int) -> None:
        self.db = db
        self._passphrase = passphrase.encode()
        self.retired_grace_s = retired_grace_s
        # Decrypting a PKCS#8 key is deliberately slow; do it once per kid.
        self._private: dict[str, ec.EllipticCurvePrivateKey] = {}

    def _decrypt(self, key: SigningKey) -> ec.EllipticCurvePrivateKey:
        cached = self._private.get(key.kid)
        if cached is not None:
            return cached
        try:
            private = serialization.load_pem_private_key(
                key.private_key_pem, password=self._passphrase
            )
        except (ValueError, TypeError) as exc:
            raise KeyPassphraseError(
                "IDENTITY_KEY_PASSPHRASE does not decrypt the stored signing key"
            ) from exc
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise KeyPassphraseError("the stored signing key is not an EC key")
        self._private[key.kid] = private
        return private

    async def ensure_active(self) -> str:
        """At start-up: make sure one active key exists and that we can decrypt it."""
        for _ in range(3):
            try:
                async with self.db.transaction() as session:
                    key = await repo.active_signing_key(session)
                    if key is None:
                        key = new_signing_key(self._passphrase.decode())
                        session.add(key)
                        await session.flush()
                        log.info("generated a new token-signing key", extra={"kid": key.kid})
                    self._decrypt(key)
                    return key.kid
            except IntegrityError:
                continue  # another instance created it at the same moment: read theirs
        raise RuntimeError("could not establish an active signing key")

    async def rotate(self, session: AsyncSession) -> str:
        """Retire the active key and start signing with a new one."""
        await repo.retire_active_keys(session, utcnow())
        key = new_signing_key(self._passphrase.decode())
        session.add(key)
        await repo.flush_or_conflict(session, "A key rotation is already in progress")
        return key.kid

    async def signer(self, session: AsyncSession) -> tuple[str, ec.EllipticCurvePrivateKey]:
        key = await repo.active_signing_key(session)
        if key is None:
            raise RuntimeError("no active signing key")
        return key.kid, self._decrypt(key)

    async def jwks(self, session: AsyncSession) -> dict[str, Any]:
        since = utcnow() - timedelta(seconds=self.retired_grace_s)
        keys = await repo.published_signing_keys(session, since)
        return {"keys": [dict(k.public_jwk) for k in keys]}

    async def local_jwks(self) -> dict[str, Any]:
        """The verifier's key source inside identity: the database, not HTTP to itself."""
        async with self.db.sessions() as session:
            return await self.jwks(session)
