"""Identity against real PostgreSQL (with TEST_POSTGRES_URL) and Redis, in-process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from contracts.envelope import CloudEvent
from identity.main import create_app
from identity.models import Base, User
from identity.profiles import CurrentProfile
from identity.settings import IdentitySettings
from servicekit.testing import FakeDelegation, drop_database, fresh_database_url, running

OPERATOR_EMAIL = "operator@portal.local"
OPERATOR_PASSWORD = "operator-test-password-1"
GOOD_PASSWORD = "correct horse 42 battery"


class FakeProfiles:
    """Delegation's answer to "which profile does this user hold now": as user.created
    left it (the invitation's profile) unless a test sets what delegation holds now."""

    def __init__(self) -> None:
        self.db: Any = None
        self.now: dict[uuid.UUID, CurrentProfile] = {}

    async def current(self, customer_id: uuid.UUID, user_id: uuid.UUID) -> CurrentProfile:
        if user_id in self.now:
            return self.now[user_id]
        async with self.db.sessions() as session:
            user = await session.get(User, user_id)
        if user is None:
            return CurrentProfile(None, [])
        return CurrentProfile(user.profile, list(user.subprofiles or []))

    async def access_owners(self, customer_id: uuid.UUID) -> list[uuid.UUID]:
        """The customer's active users whose profile (as user.created left it) is owner."""
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(User.id).where(
                    User.customer_id == customer_id,
                    User.status.in_(("active", "pending_confirmation")),
                    User.profile == "access_owner",
                )
            )
            return [
                u
                for u in rows
                if self.now.get(u, CurrentProfile("access_owner", [])).profile == "access_owner"
            ]

    async def close(self) -> None:
        return None


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    settings: IdentitySettings
    delegation: FakeDelegation
    profiles: FakeProfiles

    @property
    def db(self):  # type: ignore[no-untyped-def]
        return self.app.state.kit.db

    async def count(self, table: str) -> int:
        t = Base.metadata.tables[table]
        async with self.db.sessions() as s:
            return int((await s.execute(select(func.count()).select_from(t))).scalar_one())

    async def outbox_events(self, key: str) -> list[CloudEvent]:
        outbox = self.db.outbox
        async with self.db.sessions() as s:
            rows = (
                await s.execute(
                    select(outbox.c.value).where(outbox.c.key == key).order_by(outbox.c.seq)
                )
            ).all()
        return [CloudEvent.from_bytes(r.value) for r in rows]

    async def login(self, username: str, password: str, **kw: Any) -> httpx.Response:
        return await self.client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": password},
            **kw,
        )

    async def bearer(self, username: str, password: str) -> dict[str, str]:
        resp = await self.login(username, password)
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    async def operator(self) -> dict[str, str]:
        return await self.bearer(OPERATOR_EMAIL, OPERATOR_PASSWORD)


def identity_settings(database_url: str, **over: Any) -> IdentitySettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "operator_email": OPERATOR_EMAIL,
        "operator_password": OPERATOR_PASSWORD,
        "key_passphrase": "integration-test-passphrase",
        "throttle_key_prefix": f"identity-test:{uuid.uuid4().hex}",
        # Cheap argon2 in tests; the production cost is the library's default.
        "password_time_cost": 1,
        "password_memory_kib": 1024,
        "password_parallelism": 1,
        "relay_enabled": False,  # keep outbox rows for assertions (one test runs the relay)
        "consumer_enabled": False,
        # Tests run the termination job themselves, with the "today" they need.
        "termination_job_enabled": False,
    }
    values.update(over)
    return IdentitySettings(**values)


StackFactory = Callable[..., Awaitable[Stack]]


@asynccontextmanager
async def _stacks() -> AsyncIterator[StackFactory]:
    async with AsyncExitStack() as exits:

        async def make(
            database_url: str | None = None,
            rule: Callable[[str, str, Any], bool] | None = None,
            **over: Any,
        ) -> Stack:
            url = database_url
            if url is None:
                url = await fresh_database_url("identity")
                # Tests create a database each; drop it (after its app has stopped:
                # exits run last-in first-out) so the server does not fill up.
                exits.push_async_callback(drop_database, url)
            settings = identity_settings(url, **over)
            delegation = FakeDelegation(rule)
            profiles = FakeProfiles()
            app = create_app(settings, delegation=delegation, profiles=profiles)
            profiles.db = app.state.kit.db
            client = await exits.enter_async_context(running(app))
            return Stack(app, client, settings, delegation, profiles)

        yield make


@pytest.fixture
async def make_stack() -> AsyncIterator[StackFactory]:
    """Stacks of one's own, for tests that restart, reconfigure or count per-IP."""
    async with _stacks() as make:
        yield make


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    """One identity for most tests (each test uses its own customers and users): a
    database and a start-up per test would cost more than the tests themselves.

    Every test here comes from the same client address, so the per-IP limit is raised;
    per-IP throttling is tested on a stack of its own.
    """
    async with _stacks() as make:
        yield await make(login_max_failures_per_ip=10_000)
