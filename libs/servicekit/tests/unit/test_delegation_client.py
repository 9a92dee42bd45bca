import uuid

import httpx
import pytest

from servicekit.auth import Principal, ServiceTokenProvider
from servicekit.delegation_client import DelegationClient, Resource
from servicekit.problems import Forbidden, NotFound, ServiceUnavailable


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
    with pytest.raises(ServiceUnavailable):
        await client.check("u", "invoice.read", _resource())


async def test_authorize_hides_denied_objects_as_404_and_otherwise_says_403() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"allowed": False, "reason": "other_customer"})

    client = _client(handler)
    user = Principal(subject=str(uuid.uuid4()), kind="user", customer_id=uuid.uuid4())
    with pytest.raises(NotFound):
        await client.authorize(user, "invoice.read", _resource())
    with pytest.raises(Forbidden):
        await client.authorize(user, "invoice.object", _resource(), hide=False)
    operator = Principal(subject="op", kind="operator")
    await client.authorize(operator, "invoice.read", _resource())  # staff pass without asking
