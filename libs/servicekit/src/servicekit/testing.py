"""Helpers for tests of a service: real databases, a token issuer and a delegation double.

Integration tests use a real PostgreSQL when ``TEST_POSTGRES_URL`` is set (``make test``
sets it), one fresh database per call; otherwise a temporary SQLite file; ``drop_database``
removes either when the test is done. Tokens are signed by a throw-away key whose JWKS the
service under test is given directly. The delegation double stands in for the *other*
service; journeys through the real one are in ``tests-e2e/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from jwt.algorithms import ECAlgorithm
from sqlalchemy import MetaData

from contracts.actions import Action, action
from contracts.scopes import audiences_of, scope_claim, scopes_of
from servicekit.auth import Principal
from servicekit.db import is_sqlite, sqlite_path
from servicekit.delegation_client import Decision, Resource, Visible, require_with

ISSUER = "portal-identity"
AUDIENCE = "portal"


class TokenFactory:
    """Signs access tokens the way identity does, with its own throw-away key."""

    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex
        self._key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        self.jwks = {"keys": [jwk]}

    async def key_source(self) -> dict[str, Any]:
        return self.jwks

    def token(
        self,
        subject: UUID | str,
        *,
        kind: str = "user",
        customer_id: UUID | str | None = None,
        ttl_s: int = 300,
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(subject),
            "kind": kind,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        if customer_id:
            claims["cid"] = str(customer_id)
        if kind == "service":
            # As identity mints it: the service's scopes, and only their peers as audience.
            scopes = scopes_of(str(subject))
            claims["scope"] = scope_claim(scopes)
            claims["aud"] = audiences_of(scopes)
        claims.update(extra)
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})

    def headers(self, subject: UUID | str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, **kw)}"}


Rule = Callable[[str, str, Resource], bool]


class FakeDelegation:
    """Stands in for the delegation service in a single service's tests.

    Like the real service it refuses an action outside the vocabulary
    (``contracts.actions``) instead of answering "no", and it answers 404/403 through
    the same ``require_with`` as the real client. ``rule`` decides each check.
    """

    def __init__(self, rule: Rule | None = None) -> None:
        self.rule: Rule = rule or (lambda subject, action, resource: False)
        self.visible_map: dict[tuple[str, str, str], Visible] = {}
        self.calls: list[tuple[str, str, Resource]] = []

    async def check(self, subject: UUID | str, act: Action, resource: Resource) -> Decision:
        name = action(act).value
        self.calls.append((str(subject), name, resource))
        allowed = self.rule(str(subject), name, resource)
        return Decision(allowed, "test rule" if allowed else "denied by test rule")

    async def check_many(
        self, subject: UUID | str, act: Action, resources: list[Resource]
    ) -> list[Decision]:
        return [await self.check(subject, act, r) for r in resources]

    async def visible(self, subject: UUID | str, type_: str, act: Action) -> Visible:
        return self.visible_map.get((str(subject), type_, action(act).value), Visible())

    async def require(
        self,
        principal: Principal,
        resource: Resource,
        *actions: Action,
        visible_with: Action | None = None,
        known: bool = False,
    ) -> None:
        await require_with(
            self.check, principal, resource, *actions, visible_with=visible_with, known=known
        )

    async def close(self) -> None:
        return None


# The server of the local infrastructure (deploy/local/infra.sh).
LOCAL_POSTGRES_URL = "postgresql+asyncpg://portal:portal@127.0.0.1:5432/postgres"


def use_postgres() -> str:
    """Make ``fresh_database_url`` create PostgreSQL databases: ``TEST_POSTGRES_URL``, or
    the local infrastructure's server when it is unset. For benchmarks that report
    PostgreSQL figures (without it they would silently run on SQLite)."""
    return os.environ.setdefault("TEST_POSTGRES_URL", LOCAL_POSTGRES_URL)


async def fresh_database_url(service: str) -> str:
    """A new empty database: PostgreSQL when TEST_POSTGRES_URL is set, else SQLite."""
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        folder = tempfile.mkdtemp(prefix=f"{service}-test-")
        return f"sqlite+aiosqlite:///{folder}/{service}.db"
    name = f"test_{service}_{uuid.uuid4().hex[:10]}"
    await _on_server(base, f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


async def schema_diff(url: str, metadata: MetaData) -> list[object]:
    """What differs between the database at ``url`` and ``metadata`` (alembic's
    autogenerate comparison, column types included): ``[]`` when a service's migrations
    built exactly its models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from servicekit.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()


async def drop_database(url: str) -> None:
    """Remove a test database: PostgreSQL drops it (``WITH (FORCE)``: connections left
    open are closed), SQLite deletes the file with its ``-wal`` and ``-shm``. Already
    gone is fine."""
    if is_sqlite(url):
        path = sqlite_path(url)
        if path and path != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path + suffix)
        return
    import asyncpg

    name = url.rsplit("/", 1)[1]
    for attempt in range(5):
        try:
            await _on_server(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.PostgresError:
            # FORCE cannot end an autovacuum worker that just attached to the new
            # database (not our role's process); it leaves within moments.
            if attempt == 4:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))


async def _on_server(url: str, statement: str) -> None:
    """Run ``statement`` connected to the ``postgres`` database of ``url``'s server."""
    import asyncpg

    admin_dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """Run the app's lifespan (migrations, relay, consumer) and give an HTTP client."""
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@contextmanager
def fast_lane_answers(kit: Any) -> Iterator[list[int]]:
    """Record the status of each answer the kit's fast lane (ADR 0026) gives itself; a
    request it declines (answered by the route) records nothing."""
    given: list[int] = []
    routes = dict(kit.fast_routes)

    def spy(handler: Any) -> Any:
        async def spied(request: Any) -> Any:
            response = await handler(request)
            if response is not None:
                given.append(response.status)
            return response

        return spied

    kit.fast_routes.update({k: spy(h) for k, h in routes.items()})
    try:
        yield given
    finally:
        kit.fast_routes.update(routes)


@contextmanager
def without_fast_lane(kit: Any) -> Iterator[None]:
    """Every request through the FastAPI routes: what the lane's answers must equal."""
    routes = dict(kit.fast_routes)
    kit.fast_routes.clear()
    try:
        yield
    finally:
        kit.fast_routes.update(routes)
