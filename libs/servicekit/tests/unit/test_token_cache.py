"""The cache of verified tokens: a hit skips the signature check, never the expiry."""

import time
import uuid

import pytest

from servicekit.auth import LEEWAY_S, Principal, TokenVerifier, VerifiedTokens
from servicekit.problems import Unauthorized
from servicekit.testing import AUDIENCE, ISSUER, TokenFactory


def _verifier(tokens: TokenFactory, **kw: object) -> TokenVerifier:
    return TokenVerifier(tokens.key_source, issuer=ISSUER, audience=AUDIENCE, **kw)  # type: ignore[arg-type]


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_verified_token_is_answered_from_the_cache_without_a_second_signature_check() -> (
    None
):
    tokens = TokenFactory()
    verifier = _verifier(tokens)
    token = tokens.token(uuid.uuid4())
    first = await verifier.verify(token)
    # Another factory's key under the same key id would fail a real check: the second
    # answer can only come from the cache.
    verifier._keys.clear()
    verifier._last_refresh = time.monotonic()
    assert await verifier.verify(token) is first
    assert len(verifier.verified) == 1


async def test_an_expired_token_is_never_accepted_from_the_cache() -> None:
    tokens = TokenFactory()
    clock = _Clock()
    verifier = _verifier(tokens, clock=clock)
    token = tokens.token(uuid.uuid4(), ttl_s=60)
    await verifier.verify(token)
    assert len(verifier.verified) == 1

    clock.now += 60 + LEEWAY_S + 1  # past exp and the verifier's leeway
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)
    assert len(verifier.verified) == 0


async def test_a_refused_token_is_not_cached() -> None:
    tokens = TokenFactory()
    verifier = _verifier(tokens)
    forged = TokenFactory()
    forged.kid = tokens.kid  # same key id, other key: the signature does not match
    token = forged.token(uuid.uuid4())
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await verifier.verify(token)
    assert len(verifier.verified) == 0


def test_the_cache_keeps_at_most_its_bound_dropping_the_least_recently_used() -> None:
    cache = VerifiedTokens(max_entries=2)
    p = Principal(subject="s", kind="user")
    far = time.time() + 600
    cache.put(b"a", p, far)
    cache.put(b"b", p, far)
    assert cache.get(b"a") is p  # a is now the most recently used
    cache.put(b"c", p, far)
    assert len(cache) == 2
    assert cache.get(b"b") is None
    assert cache.get(b"a") is p and cache.get(b"c") is p
