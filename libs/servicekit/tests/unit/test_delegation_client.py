import json
import uuid

import httpx
import pytest

from contracts.actions import Action, UnknownAction
from servicekit.auth import Principal, ServiceTokenProvider
from servicekit.delegation_client import DelegationClient, Resource
from servicekit.problems import Forbidden, NotFound, ServiceUnavailable
from servicekit.testing import FakeDelegation


async def _token() -> tuple[str, float]:
    return "service-token", 300.0


def _client(handler, ttl_s: float = 5.0) -> DelegationClient:  # type: ignore[no-untyped-def]
    tokens = ServiceTokenProvider("http://identity/v1/auth/token", "billing", "x", fetch=_token)
    return DelegationClient(
        "http://delegation", tokens, ttl_s=ttl_s, transport=httpx.MockTransport(handler)
    )


def _resource() -> Resource:
    c = uuid.uuid4()
    return Resource("invoice", uuid.uuid4(), c, billing_account_id=uuid.uuid4())


async def test_decisions_are_cached_for_the_ttl_and_asked_with_the_service_token() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"allowed": True, "reason": "access_owner"})

    client = _client(handler)
    resource = _resource()
    first = await client.check("u1", "invoice.read", resource)
    second = await client.check("u1", "invoice.read", resource)
    assert first.allowed and second.allowed and len(calls) == 1
    assert calls[0].headers["authorization"] == "Bearer service-token"
    body = calls[0].read().decode()
    assert '"billing_account_id"' in body and '"invoice.read"' in body
    await client.check("u2", "invoice.read", resource)  # another subject: asked again
    assert len(calls) == 2


async def test_an_expired_cache_entry_is_asked_again() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"allowed": False, "reason": "no_grant"})

    client = _client(handler, ttl_s=0)
    resource = _resource()
    await client.check("u", "invoice.read", resource)
    await client.check("u", "invoice.read", resource)
    assert calls == 2


async def test_unreachable_delegation_fails_closed_with_503() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = _client(handler)
    with pytest.raises(ServiceUnavailable) as refused:
        await client.check("u", "invoice.read", _resource())
    # A client is told when to ask again, as for every 503 (the breaker's own says longer).
    assert refused.value.headers["Retry-After"] == "1"


def _answering(allowed: set[str]) -> DelegationClient:
    """A client whose delegation allows exactly the ``allowed`` actions."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        ok = body["action"] in allowed
        return httpx.Response(200, json={"allowed": ok, "reason": "test" if ok else "no_grant"})

    return _client(handler)


USER = Principal(subject=str(uuid.uuid4()), kind="user", customer_id=uuid.uuid4())


async def test_require_hides_what_the_caller_may_not_see_as_404() -> None:
    client = _answering(set())
    with pytest.raises(NotFound):
        await client.require(USER, _resource(), Action.INVOICE_READ)
    with pytest.raises(NotFound):
        await client.require(
            USER, _resource(), Action.INVOICE_OBJECT, visible_with=Action.INVOICE_READ
        )


async def test_require_says_403_when_the_caller_may_see_but_not_act() -> None:
    client = _answering({"invoice.read"})
    with pytest.raises(Forbidden):
        await client.require(
            USER, _resource(), Action.INVOICE_OBJECT, visible_with=Action.INVOICE_READ
        )
    with pytest.raises(Forbidden):
        await _answering(set()).require(USER, _resource(), Action.USER_MANAGE, known=True)


async def test_require_passes_when_any_of_the_actions_is_allowed() -> None:
    client = _answering({"einvoice.manage"})
    await client.require(USER, _resource(), Action.INVOICE_READ, Action.EINVOICE_MANAGE)


async def test_staff_and_services_pass_without_asking() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("delegation must not be asked")

    client = _client(handler)
    for kind in ("operator", "service"):
        await client.require(Principal(subject="x", kind=kind), _resource(), Action.INVOICE_READ)


async def test_an_unknown_action_is_a_bug_not_a_denial() -> None:
    client = _answering({"invoice.read"})
    with pytest.raises(UnknownAction):
        await client.check("u", "invoice.reed", _resource())  # type: ignore[arg-type]
    with pytest.raises(UnknownAction):
        await FakeDelegation(lambda s, a, r: True).check("u", "invoice.reed", _resource())  # type: ignore[arg-type]
