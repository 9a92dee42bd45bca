"""One decision table, two implementations: the real delegation service (through the
client every service uses) and ``FakeDelegation``, the double the other services' tests
use. Both must give the same allow / 403 / 404 for the same facts, and both must refuse
an action outside the vocabulary rather than answer "no".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

import pytest
from delegation_env import Env
from httpx import ASGITransport

from contracts.actions import Action, UnknownAction
from servicekit.auth import Principal, ServiceTokenProvider
from servicekit.delegation_client import DelegationClient, Resource
from servicekit.problems import Forbidden, NotFound, Problem
from servicekit.testing import FakeDelegation

A = Action
DATA = {a.value for a in Action} - {"delegation.third_party", "audit.read"}


@dataclass(frozen=True)
class Row:
    caller: str  # owner | manager | reader | stranger
    actions: tuple[Action, ...]
    expected: str  # allow | 403 | 404
    visible_with: Action | None = None
    known: bool = False


TABLE = [
    Row("owner", (A.INVOICE_READ,), "allow"),
    Row("owner", (A.EINVOICE_MANAGE,), "allow", visible_with=A.INVOICE_READ),
    Row("reader", (A.INVOICE_READ,), "allow"),
    Row("reader", (A.INVOICE_OBJECT,), "403", visible_with=A.INVOICE_READ),
    Row("reader", (A.EINVOICE_MANAGE,), "403", visible_with=A.INVOICE_READ),
    Row("reader", (A.INVOICE_READ, A.EINVOICE_MANAGE), "allow"),
    Row("reader", (A.USER_MANAGE,), "404"),
    Row("reader", (A.USER_MANAGE,), "403", known=True),
    Row("manager", (A.USER_MANAGE,), "allow"),
    Row("manager", (A.INVOICE_READ,), "404"),
    Row("manager", (A.INVOICE_OBJECT,), "404", visible_with=A.INVOICE_READ),
    Row("stranger", (A.INVOICE_READ,), "404"),
    Row("stranger", (A.EINVOICE_MANAGE,), "404", visible_with=A.INVOICE_READ),
]


@dataclass
class World:
    customer: UUID
    account: UUID
    users: dict[str, UUID]
    # What each caller holds on ``customer`` (stranger: nothing; it owns another one).
    holds: dict[str, set[str]]

    def resource(self) -> Resource:
        return Resource(
            "billing_account", self.account, self.customer, billing_account_id=self.account
        )

    def principal(self, caller: str) -> Principal:
        return Principal(subject=str(self.users[caller]), kind="user", customer_id=self.customer)


@pytest.fixture
async def world(env: Env) -> World:
    c = await env.register()
    manager = await env.invite(c.customer_id, profile="access_manager")
    reader = await env.invite(c.customer_id)
    resp = await env.client.post(
        f"/v1/customers/{c.customer_id}/assignments",
        headers=env.user(c.registrant, c.customer_id),
        json={
            "user_id": str(reader),
            "profile": "portal_user",
            "scope": {"applications": ["my-invoice-online"]},
            "permissions": ["read"],
        },
    )
    assert resp.status_code in (200, 201), resp.text
    stranger = (await env.register()).registrant
    return World(
        customer=c.customer_id,
        account=uuid.uuid4(),
        users={"owner": c.registrant, "manager": manager, "reader": reader, "stranger": stranger},
        holds={
            "owner": set(DATA),
            "manager": {"user.manage", "role.grant"},
            "reader": {"invoice.read", "usage.read"},
            "stranger": set(),
        },
    )


def real_client(env: Env) -> DelegationClient:
    async def fetch() -> tuple[str, float]:
        return env.tokens.token("billing", kind="service"), 300.0

    tokens = ServiceTokenProvider("http://identity/v1/auth/token", "billing", "x", fetch=fetch)
    transport = ASGITransport(app=env.client._transport.app)  # type: ignore[attr-defined]
    return DelegationClient("http://delegation", tokens, ttl_s=0, transport=transport)


def double(world: World) -> FakeDelegation:
    by_id = {str(uid): name for name, uid in world.users.items()}

    def rule(subject: str, action: str, resource: Resource) -> bool:
        same = str(resource.customer_id) == str(world.customer)
        return same and action in world.holds[by_id[subject]]

    return FakeDelegation(rule)


async def outcome(delegation: DelegationClient | FakeDelegation, world: World, row: Row) -> str:
    try:
        await delegation.require(
            world.principal(row.caller),
            world.resource(),
            *row.actions,
            visible_with=row.visible_with,
            known=row.known,
        )
    except Forbidden:
        return "403"
    except NotFound:
        return "404"
    except Problem as exc:  # anything else is a failure of the contract
        return f"problem {exc!r}"
    return "allow"


async def test_the_double_and_the_real_service_give_the_same_decisions(
    env: Env, world: World
) -> None:
    real, fake = real_client(env), double(world)
    try:
        for row in TABLE:
            got_real = await outcome(real, world, row)
            got_fake = await outcome(fake, world, row)
            assert (got_real, got_fake) == (row.expected, row.expected), row
    finally:
        await real.close()


async def test_both_refuse_an_action_outside_the_vocabulary(env: Env, world: World) -> None:
    real = real_client(env)
    try:
        for delegation in (real, double(world)):
            with pytest.raises(UnknownAction):
                await delegation.check(world.users["owner"], "invoice.delete", world.resource())  # type: ignore[arg-type]
    finally:
        await real.close()


def test_the_vocabulary_is_exactly_what_delegation_decides() -> None:
    from delegation.domain import ACTIONS

    assert set(ACTIONS) == {a.value for a in Action}
