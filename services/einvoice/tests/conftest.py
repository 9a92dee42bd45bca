"""Test doubles at the edges of einvoice: billing (another service), the token issuer and
delegation. The database, Kafka and the app itself are real."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from einvoice.bank import FakeBankAdapter
from einvoice.billing_client import BillingClient
from einvoice.main import create_app
from einvoice.peppol import FakeAccessPoint
from einvoice.settings import EinvoiceSettings
from servicekit.auth import TokenVerifier
from servicekit.delegation_client import Resource
from servicekit.testing import FakeDelegation, TokenFactory, running


class StaticTokens:
    async def token(self) -> str:
        return "einvoice-service-token"

    def invalidate(self) -> None:
        pass


class FakeBilling:
    """Billing's ``GET /v1/billing-accounts/{id}`` and ``GET /v1/invoices/{id}/ubl`` as an
    httpx transport."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.ubl: dict[str, bytes] = {}
        self.down = False
        self.calls: list[str] = []

    def add(self, customer_id: uuid.UUID, kind: str, name: str = "Main") -> uuid.UUID:
        account_id = uuid.uuid4()
        self.accounts[str(account_id)] = {
            "billing_account_id": str(account_id),
            "customer_id": str(customer_id),
            "kind": kind,
            "name": name,
            "status": "active",
        }
        return account_id

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("billing is down", request=request)
        assert request.headers["authorization"] == "Bearer einvoice-service-token"
        if request.url.path.startswith("/v1/invoices/") and request.url.path.endswith("/ubl"):
            document = self.ubl.get(request.url.path.split("/")[3])
            if document is None:
                return httpx.Response(404, json={"status": 404, "title": "Not found"})
            return httpx.Response(
                200, content=document, headers={"content-type": "application/xml"}
            )
        account_id = request.url.path.rsplit("/", 1)[-1]
        self.calls.append(account_id)
        account = self.accounts.get(account_id)
        if account is None:
            return httpx.Response(404, json={"status": 404, "title": "Not found"})
        return httpx.Response(200, json=account)

    def client(self) -> BillingClient:
        return BillingClient(
            "http://billing.test", StaticTokens(), transport=httpx.MockTransport(self.handler)
        )


@dataclass
class World:
    """Customers and their users; a user may act on their own customer's accounts with
    the actions listed for them."""

    tokens: TokenFactory = field(default_factory=TokenFactory)
    billing: FakeBilling = field(default_factory=FakeBilling)
    bank: FakeBankAdapter = field(default_factory=FakeBankAdapter)
    access_point: FakeAccessPoint = field(default_factory=FakeAccessPoint)
    rights: dict[str, tuple[str, set[str], set[str] | None]] = field(default_factory=dict)
    now: datetime | None = None

    def user(
        self,
        customer_id: uuid.UUID,
        actions: set[str] | None = None,
        *,
        accounts: set[uuid.UUID] | None = None,
    ) -> dict[str, str]:
        """A user of the customer with ``actions`` on all its accounts, or only on
        ``accounts`` when given."""
        user_id = uuid.uuid4()
        self.rights[str(user_id)] = (
            str(customer_id),
            actions if actions is not None else {"invoice.read", "einvoice.manage"},
            None if accounts is None else {str(a) for a in accounts},
        )
        return self.tokens.headers(user_id, customer_id=customer_id)

    def rule(self, subject: str, action: str, resource: Resource) -> bool:
        customer, actions, accounts = self.rights.get(subject, ("", set(), None))
        if accounts is not None and str(resource.billing_account_id) not in accounts:
            return False
        return str(resource.customer_id) == customer and action in actions

    def clock(self) -> datetime:
        from servicekit.db import utcnow

        return self.now or utcnow()

    def app(self, settings: EinvoiceSettings) -> FastAPI:
        return create_app(
            settings,
            verifier=TokenVerifier(
                self.tokens.key_source, issuer="portal-identity", audience="portal"
            ),
            delegation=FakeDelegation(self.rule),
            billing=self.billing.client(),
            bank=self.bank,
            access_point=self.access_point,
            clock=self.clock,
        )


@pytest.fixture
def world() -> World:
    return World()


AppRunner = Callable[..., Any]


@pytest.fixture
def run_app(world: World) -> AppRunner:
    @asynccontextmanager
    async def run(settings: EinvoiceSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = world.app(settings)
        async with running(app) as client:
            yield app, client

    return run
