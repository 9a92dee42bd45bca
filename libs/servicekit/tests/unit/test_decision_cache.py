"""The decision cache forgets on ``delegation.changed``, never keeps an answer fetched
across an invalidation, and a failing delegation is answered 503 at once (circuit)."""

import asyncio
import uuid

import httpx
import pytest

from servicekit.auth import ServiceTokenProvider
from servicekit.delegation_client import DelegationClient, Resource
from servicekit.http import CircuitBreaker
from servicekit.problems import ServiceUnavailable


async def _token() -> tuple[str, float]:
    return "service-token", 300.0


def _client(handler, **kw) -> DelegationClient:  # type: ignore[no-untyped-def]
    tokens = ServiceTokenProvider("http://identity/v1/auth/token", "billing", "x", fetch=_token)
    return DelegationClient(
        "http://delegation", tokens, ttl_s=3600, transport=httpx.MockTransport(handler), **kw
    )


def _resource() -> Resource:
    return Resource("invoice", uuid.uuid4(), uuid.uuid4(), billing_account_id=uuid.uuid4())


async def test_a_delegation_changed_event_evicts_so_a_revoked_right_is_refused_at_once() -> None:
    allowed = {"value": True}
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"allowed": allowed["value"], "reason": "r"})

    client = _client(handler)
    resource = _resource()
    assert (await client.check("u", "invoice.read", resource)).allowed
    allowed["value"] = False  # revoked in delegation; the cache (an hour's TTL) still says yes
    assert (await client.check("u", "invoice.read", resource)).allowed and calls == 1

    client.invalidate(object())  # what the broadcast reader calls for delegation.changed
    assert len(client) == 0
    assert not (await client.check("u", "invoice.read", resource)).allowed
    assert calls == 2


async def test_an_answer_fetched_across_an_invalidation_is_not_kept() -> None:
    answered = asyncio.Event()
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        answered.set()
        await release.wait()
        return httpx.Response(200, json={"allowed": True, "reason": "r"})

    client = _client(slow)
    resource = _resource()
    asking = asyncio.create_task(client.check("u", "invoice.read", resource))
    await answered.wait()
    client.invalidate(None)  # the revocation's event arrives while the answer is on its way
    release.set()
    assert (await asking).allowed  # this one request was decided before the event
    assert len(client) == 0  # ... but its answer is not cached for the next ones


async def test_after_repeated_failures_delegation_is_not_asked_and_503_comes_at_once() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, headers={"Retry-After": "1"})

    now = {"t": 0.0}
    breaker = CircuitBreaker("rights", failures=3, open_s=1.0, clock=lambda: now["t"])
    client = _client(handler, breaker=breaker)
    for _ in range(3):
        with pytest.raises(ServiceUnavailable):
            await client.check("u", "invoice.read", _resource())
    assert calls == 3 and breaker.is_open

    with pytest.raises(ServiceUnavailable) as refused:
        await client.check("u", "invoice.read", _resource())
    assert calls == 3  # refused without asking
    assert refused.value.headers["Retry-After"] == "1"

    now["t"] = 1.5  # the circuit half-opens: one call tries again
    with pytest.raises(ServiceUnavailable):
        await client.check("u", "invoice.read", _resource())
    assert calls == 4


async def test_a_successful_trial_closes_the_circuit() -> None:
    ok = {"value": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if ok["value"]:
            return httpx.Response(200, json={"allowed": True, "reason": "r"})
        return httpx.Response(500)

    now = {"t": 0.0}
    breaker = CircuitBreaker("rights", failures=1, open_s=1.0, clock=lambda: now["t"])
    client = _client(handler, breaker=breaker)
    with pytest.raises(ServiceUnavailable):
        await client.check("u", "invoice.read", _resource())
    assert breaker.is_open
    ok["value"] = True
    now["t"] = 2.0
    assert (await client.check("u", "invoice.read", _resource())).allowed
    assert not breaker.is_open
    assert (await client.check("u", "invoice.read", _resource())).allowed


async def test_a_trial_call_that_never_reports_back_does_not_keep_the_circuit_open() -> None:
    now = {"t": 0.0}
    breaker = CircuitBreaker("rights", failures=1, open_s=1.0, clock=lambda: now["t"])
    breaker.failure()
    now["t"] = 1.5
    breaker.before()  # the trial call goes out ... and is cancelled, never reporting back
    with pytest.raises(ServiceUnavailable):
        breaker.before()  # meanwhile the others are refused at once
    now["t"] = 3.0
    breaker.before()  # a new trial is allowed
    breaker.success()
    assert not breaker.is_open


async def test_a_cancelled_call_releases_the_trial() -> None:
    started = asyncio.Event()

    async def hangs(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    now = {"t": 0.0}
    breaker = CircuitBreaker("rights", failures=1, open_s=1.0, clock=lambda: now["t"])
    breaker.failure()
    now["t"] = 1.5
    client = _client(hangs, breaker=breaker)
    trial = asyncio.create_task(client.check("u", "invoice.read", _resource()))
    await started.wait()
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    breaker.before()  # not refused: the cancelled trial gave its place back


async def test_lookups_are_counted_as_hits_and_misses_per_service() -> None:
    from prometheus_client import REGISTRY

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"allowed": True, "reason": "r"})

    service = f"svc-{uuid.uuid4().hex[:8]}"
    client = _client(handler, service=service)

    def count(outcome: str) -> float:
        labels = {"service": service, "outcome": outcome}
        return REGISTRY.get_sample_value("rights_cache_lookups_total", labels) or 0.0

    resource = _resource()
    await client.check("u", "invoice.read", resource)  # miss, then stored
    await client.check("u", "invoice.read", resource)  # hit
    await client.check("u", "invoice.read", resource)  # hit
    client.invalidate(None)
    await client.check("u", "invoice.read", resource)  # miss again
    assert (count("hit"), count("miss")) == (2.0, 2.0)
