import pytest

from identity.keys import KeyPassphraseError, Keyring, new_signing_key
from servicekit.auth import TokenVerifier
from servicekit.problems import Unauthorized


class _Db:  # the keyring only needs the database for its own sessions
    pass


def test_private_key_is_stored_encrypted_and_kid_is_the_thumbprint():
    key = new_signing_key("pass-phrase-123")
    assert b"ENCRYPTED PRIVATE KEY" in key.private_key_pem
    assert key.public_jwk["kid"] == key.kid and key.public_jwk["alg"] == "ES256"
    assert "d" not in key.public_jwk  # no private part in the JWKS


def test_wrong_passphrase_is_a_clear_error():
    key = new_signing_key("pass-phrase-123")
    ring = Keyring(_Db(), passphrase="another-one", retired_grace_s=60)  # type: ignore[arg-type]
    with pytest.raises(KeyPassphraseError, match="IDENTITY_KEY_PASSPHRASE"):
        ring._decrypt(key)


async def test_tokens_signed_with_the_stored_key_verify_with_its_jwk():
    import time

    import jwt

    key = new_signing_key("pass-phrase-123")
    ring = Keyring(_Db(), passphrase="pass-phrase-123", retired_grace_s=60)  # type: ignore[arg-type]
    private = ring._decrypt(key)
    now = int(time.time())
    claims = {
        "iss": "portal-identity",
        "aud": "portal",
        "sub": "u1",
        "kind": "user",
        "iat": now,
        "exp": now + 60,
        "typ": "access",
    }
    token = jwt.encode(claims, private, algorithm="ES256", headers={"kid": key.kid})

    async def source():
        return {"keys": [key.public_jwk]}

    verifier = TokenVerifier(source, issuer="portal-identity", audience="portal")
    principal = await verifier.verify(token)
    assert principal.subject == "u1" and principal.kind == "user"

    other = new_signing_key("x" * 12)

    async def wrong_source():
        return {"keys": [{**other.public_jwk, "kid": key.kid}]}

    with pytest.raises(Unauthorized):
        await TokenVerifier(wrong_source, issuer="portal-identity", audience="portal").verify(token)
