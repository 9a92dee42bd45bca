"""Token verification (JWKS), the caller as a ``Principal``, and service-to-service tokens.

Identity signs short-lived access tokens with an asymmetric key and publishes the public
keys at ``/.well-known/jwks.json``. Every service verifies every request offline against
a cached copy, refreshed when a token names a key id it does not know yet (key
rotation), at most once per ``min_refresh_interval_s``.

Claims: ``sub`` (user id, or client id for services), ``kind`` (user | operator |
service), ``cid`` (the user's customer id), ``iss``, ``aud``, ``exp``, ``iat``, ``jti``;
a service token also has ``scope`` (``contracts.scopes``) and, as ``aud``, only the peers
those scopes name.

Service tokens are not master keys: ``CurrentPrincipal`` (every user route) refuses them
with 403; the few internal reads a peer needs admit them by scope
(``principal_or_service(ServiceScope.X)``). A verifier given its ``service`` name accepts a
service token only when that name is in the token's audience (401 otherwise).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
import jwt
from fastapi import Depends, Request
from jwt import PyJWK

from servicekit.problems import Forbidden, ServiceUnavailable, Unauthorized

ALGORITHMS = ["ES256", "RS256"]
Kind = Literal["user", "operator", "service"]


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: Kind
    customer_id: UUID | None = None
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> UUID:
        if self.kind == "service":
            raise Forbidden("This route is for users")
        return UUID(self.subject)

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    @property
    def scopes(self) -> frozenset[str]:
        """A service token's scopes (``scope`` claim, space separated); none for people."""
        raw = self.claims.get("scope") if self.kind == "service" else None
        return frozenset(raw.split()) if isinstance(raw, str) else frozenset()


KeySource = Callable[[], Awaitable[dict[str, Any]]]


def http_key_source(jwks_url: str, timeout_s: float = 3.0) -> KeySource:
    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            resp = await client.get(jwks_url)
            resp.raise_for_status()
            data: dict[str, Any] = resp.json()
            return data

    return fetch


LEEWAY_S = 30  # clock skew between identity's and this host's clocks


class VerifiedTokens:
    """Tokens already verified, keyed by their SHA-256, each until its own expiry.

    Verifying an ES256 signature costs about as much as the rest of a request; a user
    sends the same token for minutes. Bounded (least recently used out first); an entry
    is never answered past the token's ``exp`` (plus the verifier's leeway), so an
    expired token is refused exactly as without the cache. Only successes are kept.
    """

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, key: bytes) -> Principal | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[0] < self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return hit[1]

    def put(self, key: bytes, principal: Principal, valid_until: float) -> None:
        if self.max_entries <= 0:
            return
        self._entries[key] = (valid_until, principal)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class TokenVerifier:
    def __init__(
        self,
        key_source: KeySource,
        *,
        issuer: str,
        audience: str,
        service: str | None = None,
        min_refresh_interval_s: float = 10.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = key_source
        self.issuer = issuer
        self.audience = audience
        # This service's name: the audience a service token must name to be taken here.
        self.service = service
        self.min_refresh_interval_s = min_refresh_interval_s
        self._keys: dict[str, PyJWK] = {}
        self._last_refresh = 0.0
        self._lock = asyncio.Lock()
        self.clock = clock
        self.verified = VerifiedTokens(cache_size, clock=lambda: self.clock())

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if not force and self._keys:
                return
            if self._keys and now - self._last_refresh < self.min_refresh_interval_s:
                return
            try:
                jwks = await self._source()
            except (httpx.HTTPError, OSError, json.JSONDecodeError) as exc:
                if self._keys:
                    return  # keep verifying with what we have
                raise ServiceUnavailable("Token keys are unavailable") from exc
            self._keys = {k["kid"]: PyJWK.from_dict(k) for k in jwks.get("keys", []) if "kid" in k}
            self._last_refresh = now

    async def verify(self, token: str) -> Principal:
        key = self.verified.key(token)
        cached = self.verified.get(key)
        if cached is not None:
            return cached
        principal, exp = await self._verify(token)
        self.verified.put(key, principal, exp + LEEWAY_S)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed token") from exc
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS or not kid:
            raise Unauthorized("Unsupported token")
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("Unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=[self.audience, *([self.service] if self.service else [])],
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=LEEWAY_S,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid token") from exc
        if claims.get("typ") not in (None, "access"):
            raise Unauthorized("Not an access token")
        kind = claims.get("kind")
        if kind not in ("user", "operator", "service"):
            raise Unauthorized("Invalid token")
        exp = float(claims["exp"])
        if exp + LEEWAY_S < self.clock():  # the same clock the cache of verified tokens reads
            raise Unauthorized("Token expired")
        aud = claims["aud"]
        audiences = {aud} if isinstance(aud, str) else set(aud)
        wanted = self.service if kind == "service" else self.audience
        if wanted is None or wanted not in audiences:
            # A service token for other peers, or a person's token minted for a service.
            raise Unauthorized("Token not meant for this service")
        cid = claims.get("cid")
        principal = Principal(
            subject=str(claims["sub"]),
            kind=kind,
            customer_id=UUID(cid) if cid else None,
            claims=claims,
        )
        return principal, exp


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


async def verified_principal(request: Request) -> Principal:
    """Whoever signed in, services included: only for routes that decide on services."""
    verifier: TokenVerifier = request.app.state.kit.verifier
    return await verifier.verify(bearer_token(request))


SERVICE_TOKEN_REFUSED = "This route is not open to service tokens"


async def current_principal(request: Request) -> Principal:
    """A person (user or operator staff): every route's default. Service tokens get 403."""
    principal = await verified_principal(request)
    if principal.is_service:
        raise Forbidden(SERVICE_TOKEN_REFUSED, slug="service-token-refused")
    return principal


def person_or_scoped_service(principal: Principal, scope: str) -> Principal:
    """``principal`` if a person, or a service whose token carries ``scope``; 403 else."""
    if principal.is_service and scope not in principal.scopes:
        raise Forbidden(
            f"This service token does not carry the scope {scope}", slug="insufficient-scope"
        )
    return principal


def principal_or_service(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A person, or a service whose token carries ``scope`` (a ``contracts.scopes``
    member): the dependency of the few internal reads a peer needs."""

    async def principal_or_scoped_service(request: Request) -> Principal:
        return person_or_scoped_service(await verified_principal(request), scope)

    principal_or_scoped_service.__name__ = f"principal_or_service_{scope}"
    return principal_or_scoped_service


async def operator_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_operator:
        raise Forbidden("Operator staff only")
    return principal


async def user_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if principal.kind != "user":
        raise Forbidden("This route is for portal users")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OperatorPrincipal = Annotated[Principal, Depends(operator_principal)]
UserPrincipal = Annotated[Principal, Depends(user_principal)]


TokenFetch = Callable[[], Awaitable[tuple[str, float]]]


class ServiceTokenProvider:
    """This service's own access token, cached until shortly before expiry.

    By default it is fetched by OAuth2 client credentials at identity; identity itself
    passes ``fetch`` to mint its token in-process instead of calling itself over HTTP.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        timeout_s: float = 3.0,
        *,
        fetch: TokenFetch | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout_s = timeout_s
        self._fetch: TokenFetch = fetch or self._client_credentials
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at - 30:
                return self._token
            token, expires_in = await self._fetch()
            self._token = token
            self._expires_at = time.monotonic() + expires_in
            return token

    def invalidate(self) -> None:
        self._token = None

    async def _client_credentials(self) -> tuple[str, float]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                resp = await client.post(
                    self.token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                    },
                )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("Identity is unreachable") from exc
        if resp.status_code != 200:
            raise ServiceUnavailable(
                f"Identity refused this service's credentials ({resp.status_code})"
            )
        body = resp.json()
        return str(body["access_token"]), float(body.get("expires_in", 300))
