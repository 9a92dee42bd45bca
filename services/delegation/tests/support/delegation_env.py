"""A running delegation app for tests, and shortcuts that feed it identity/fleet facts
through the same use cases the Kafka handlers call."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import delegation_factories as factories
from httpx import AsyncClient
from sqlalchemy import select

from delegation.deps import Deps
from delegation.main import create_app
from delegation.service import events
from delegation.settings import DelegationSettings
from servicekit.app import ServiceKit
from servicekit.auth import TokenVerifier
from servicekit.testing import AUDIENCE, ISSUER, TokenFactory, running


@dataclass
class Customer:
    customer_id: UUID
    enterprise_number: str
    registrant: UUID


@dataclass
class FakeScopeOwners:
    """Billing and fleet as delegation asks them: who owns a billing account or a SIM."""

    accounts: dict[UUID, UUID] = field(default_factory=dict)
    sims: dict[UUID, UUID] = field(default_factory=dict)

    async def customer_of_billing_account(self, billing_account_id: UUID) -> UUID | None:
        return self.accounts.get(billing_account_id)

    async def customer_of_sim(self, sim_id: UUID) -> UUID | None:
        return self.sims.get(sim_id)

    async def close(self) -> None:
        return None


@dataclass
class Env:
    client: AsyncClient
    kit: ServiceKit
    deps: Deps
    tokens: TokenFactory = field(default_factory=TokenFactory)
    owners: FakeScopeOwners = field(default_factory=FakeScopeOwners)

    def billing_account(self, customer_id: UUID) -> UUID:
        """A billing account of ``customer_id``, as billing would answer for it."""
        account = uuid.uuid4()
        self.owners.accounts[account] = customer_id
        return account

    # -- tokens -------------------------------------------------------------------------

    def user(self, user_id: UUID, customer_id: UUID | None = None) -> dict[str, str]:
        return self.tokens.headers(user_id, kind="user", customer_id=customer_id)

    def operator(self) -> dict[str, str]:
        return self.tokens.headers(uuid.uuid4(), kind="operator")

    def service(self, name: str = "billing") -> dict[str, str]:
        return self.tokens.headers(name, kind="service")

    # -- facts from other services ------------------------------------------------------

    async def apply(self, use_case: Any, payload: Any) -> None:
        async with self.kit.db.transaction() as session:
            if use_case is events.sim_changed:
                await use_case(session, payload)
            else:
                await use_case(session, self.deps, payload)

    async def sweep(self) -> int:
        """One run of the contract-end sweep, in its own transaction like the job's."""
        async with self.kit.db.transaction() as session:
            return await events.sweep_ended_contracts(session, self.deps)

    async def register(
        self,
        *,
        wants_access_owner: bool = True,
        affiliates: list[str] | None = None,
        number: str | None = None,
        confirmed: list[UUID] | None = None,
    ) -> Customer:
        registered = factories.customer_registered(
            wants_access_owner=wants_access_owner,
            affiliates=affiliates,
            number=number,
            confirmed=confirmed,
        )
        customer_id, registrant = registered.customer_id, registered.registrant_user_id
        number = registered.enterprise_number
        await self.apply(events.customer_registered, registered)
        await self.apply(
            events.user_created,
            factories.user_created(
                registrant,
                customer_id,
                "access_owner" if wants_access_owner else "access_manager",
                registrant=True,
            ),
        )
        return Customer(customer_id, number, registrant)

    async def invite(
        self,
        customer_id: UUID,
        profile: str = "portal_user",
        *,
        kind: str = "employee",
        ends_on: date | None = None,
        subprofiles: list[str] | None = None,
    ) -> UUID:
        user_id = uuid.uuid4()
        await self.apply(
            events.user_created,
            factories.user_created(
                user_id, customer_id, profile, kind=kind, ends_on=ends_on, subprofiles=subprofiles
            ),
        )
        return user_id

    async def deactivate(self, user_id: UUID, customer_id: UUID) -> None:
        await self.apply(events.user_deactivated, factories.user_deactivated(user_id, customer_id))

    async def terminate(self, customer_id: UUID) -> None:
        await self.apply(events.customer_terminated, factories.customer_terminated(customer_id))

    async def sim(
        self,
        customer_id: UUID,
        billing_account_id: UUID,
        end_user: UUID | None = None,
        *,
        sim_id: UUID | None = None,
        change: str = "provisioned",
        at: datetime | None = None,
    ) -> UUID:
        changed = factories.sim_changed(
            customer_id, billing_account_id, end_user, sim_id=sim_id, change=change, at=at
        )
        await self.apply(events.sim_changed, changed)
        return changed.sim_id

    # -- asking -------------------------------------------------------------------------

    async def check(
        self,
        subject: UUID,
        action: str,
        resource: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        resp = await self.client.post(
            "/v1/check",
            headers=headers or self.service(),
            json={"subject": str(subject), "action": action, "resource": _json(resource)},
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def outbox(self) -> list[dict[str, Any]]:
        """Events written (the relay is off in these tests, so they stay in the table)."""
        table = self.kit.db.outbox
        async with self.kit.db.sessions() as session:
            rows = (await session.execute(select(table.c.value).order_by(table.c.seq))).all()
        return [json.loads(r.value) for r in rows]


def customer_resource(customer_id: UUID) -> dict[str, Any]:
    return {"type": "customer", "id": customer_id, "customer_id": customer_id}


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, UUID):
        return str(value)
    return value


def settings_for(database_url: str, **kw: Any) -> DelegationSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "relay_enabled": False,
        "consumer_enabled": False,
        "contract_sweep_enabled": False,
        **kw,
    }
    return DelegationSettings(**values)


@asynccontextmanager
async def delegation_env(database_url: str, **settings: Any) -> AsyncIterator[Env]:
    tokens = TokenFactory()
    verifier = TokenVerifier(
        tokens.key_source, issuer=ISSUER, audience=AUDIENCE, service="delegation"
    )
    owners = FakeScopeOwners()
    app = create_app(settings_for(database_url, **settings), verifier=verifier, scope_owners=owners)
    async with running(app) as client:
        yield Env(
            client=client, kit=app.state.kit, deps=app.state.deps, tokens=tokens, owners=owners
        )
