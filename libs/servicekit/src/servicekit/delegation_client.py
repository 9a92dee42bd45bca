"""Asks the delegation service whether a caller may do something, with a cache.

Every service checks rights on every request by asking delegation. Answers are cached
(bounded, least recently used out first) and forgotten at once when ``delegation.changed``
says a right changed: every instance reads that topic (``servicekit.broadcast``) and
calls ``invalidate``, so a revoked right is refused within the event's trip through the
outbox and the broker, well under a second. ``ttl_s`` is only the backstop for what no
event announces (a SIM moved to another account). An answer fetched while an invalidation
happened is not stored (a generation counter), so an old answer cannot outlive the event.
See ADR 0022.

If delegation cannot be reached, or is saturated, the answer is "deny" by way of 503: we
never fail open. Calls time out quickly and a circuit breaker answers 503 at once while
delegation keeps failing, so its overload does not hold this service's requests.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import httpx
from prometheus_client import Counter

from contracts.actions import Action, action
from servicekit.auth import Principal, ServiceTokenProvider
from servicekit.http import CircuitBreaker
from servicekit.problems import Forbidden, NotFound, ServiceUnavailable
from servicekit.telemetry import current_trace_headers

CACHE_LOOKUPS = Counter(
    "rights_cache_lookups_total",
    "Rights answers looked up in this instance's decision cache",
    ["service", "outcome"],  # hit | miss
)


@dataclass(frozen=True)
class Resource:
    type: str  # customer | user | billing_account | invoice | sim
    id: UUID | str | None
    customer_id: UUID | str
    billing_account_id: UUID | str | None = None  # for scope checks on invoices and SIMs
    sim_id: UUID | str | None = None

    def as_json(self) -> dict[str, Any]:
        data = {"type": self.type, "id": _s(self.id), "customer_id": _s(self.customer_id)}
        if self.billing_account_id:
            data["billing_account_id"] = _s(self.billing_account_id)
        if self.sim_id:
            data["sim_id"] = _s(self.sim_id)
        return data


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class Visible:
    """What a user may act on: whole customers, plus single resource ids."""

    customer_ids: frozenset[str] = field(default_factory=frozenset)
    ids: frozenset[str] = field(default_factory=frozenset)

    def allows(self, *, customer_id: UUID | str, resource_id: UUID | str) -> bool:
        return str(customer_id) in self.customer_ids or str(resource_id) in self.ids


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


class Delegation(Protocol):
    """What a service asks delegation: the real ``DelegationClient``, or the test double
    ``servicekit.testing.FakeDelegation``. Services type their ``Deps`` with this."""

    async def check(self, subject: UUID | str, act: Action, resource: Resource) -> Decision: ...

    async def check_many(
        self, subject: UUID | str, act: Action, resources: list[Resource]
    ) -> list[Decision]: ...

    async def visible(self, subject: UUID | str, type_: str, act: Action) -> Visible: ...

    async def require(
        self,
        principal: Principal,
        resource: Resource,
        *actions: Action,
        visible_with: Action | None = None,
        known: bool = False,
    ) -> None: ...

    async def close(self) -> None: ...


class DelegationClient:
    def __init__(
        self,
        base_url: str,
        tokens: ServiceTokenProvider,
        *,
        ttl_s: float = 5.0,
        timeout_s: float = 3.0,
        max_entries: int = 10_000,
        transport: httpx.AsyncBaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        service: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.max_entries = max_entries
        self._cache: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self.breaker = breaker or CircuitBreaker("rights")
        self.generation = 0  # bumped by every invalidation
        self._hits = CACHE_LOOKUPS.labels(service, "hit")
        self._misses = CACHE_LOOKUPS.labels(service, "miss")

    async def close(self) -> None:
        await self._http.aclose()

    def invalidate(self, _event: object = None) -> None:
        """Forget every cached answer (a right changed somewhere: ``delegation.changed``).

        Everything, not only the named user's answers: a change to one user also changes
        decisions about others (an access owner as the target of a manager, affiliates).
        """
        self.generation += 1
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)

    def _cached(self, key: Hashable) -> Any | None:
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            self._hits.inc()
            return hit[1]
        self._misses.inc()
        return None

    def _store(self, key: Hashable, value: Any, generation: int) -> None:
        if generation != self.generation:
            return  # fetched across an invalidation: possibly older than the event
        self._cache[key] = (time.monotonic() + self.ttl_s, value)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        self.breaker.before()
        try:
            result = await self._request(method, path, **kwargs)
        except ServiceUnavailable:
            self.breaker.failure()
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.success()
        return result

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            token = await self.tokens.token()
            headers = {"Authorization": f"Bearer {token}", **current_trace_headers()}
            try:
                resp = await self._http.request(
                    method, f"{self.base_url}{path}", headers=headers, **kwargs
                )
            except httpx.HTTPError as exc:
                raise ServiceUnavailable("The rights service is unreachable") from exc
            if resp.status_code == 401 and attempt == 1:
                self.tokens.invalidate()
                continue
            if resp.status_code != 200:
                raise ServiceUnavailable(f"The rights service answered {resp.status_code}")
            return resp.json()
        raise ServiceUnavailable("The rights service refused this service's token")

    async def check(self, subject: UUID | str, act: Action, resource: Resource) -> Decision:
        name = action(act).value
        # A tuple, not the request's JSON: it is built on every request of every service.
        key = ("c", str(subject), name, resource.type, _s(resource.id), _s(resource.customer_id),
               _s(resource.billing_account_id), _s(resource.sim_id))  # fmt: skip
        hit = self._cached(key)
        if hit is None:
            body = {"subject": str(subject), "action": name, "resource": resource.as_json()}
            generation = self.generation
            data = await self._call("POST", "/v1/check", json=body)
            hit = Decision(bool(data["allowed"]), str(data.get("reason", "")))
            self._store(key, hit, generation)
        assert isinstance(hit, Decision)
        return hit

    async def check_many(
        self, subject: UUID | str, act: Action, resources: list[Resource]
    ) -> list[Decision]:
        if not resources:
            return []
        name = action(act).value
        checks = [
            {"subject": str(subject), "action": name, "resource": r.as_json()} for r in resources
        ]
        data = await self._call("POST", "/v1/check/batch", json={"checks": checks})
        return [Decision(bool(r["allowed"]), str(r.get("reason", ""))) for r in data["results"]]

    async def visible(self, subject: UUID | str, type_: str, act: Action) -> Visible:
        name = action(act).value
        key = f"v:{subject}:{type_}:{name}"
        hit = self._cached(key)
        if hit is None:
            generation = self.generation
            data = await self._call(
                "GET",
                f"/v1/subjects/{subject}/resources",
                params={"type": type_, "action": name},
            )
            hit = Visible(
                customer_ids=frozenset(str(c) for c in data.get("customer_ids", [])),
                ids=frozenset(str(i) for i in data.get("ids", [])),
            )
            self._store(key, hit, generation)
        assert isinstance(hit, Visible)
        return hit

    async def require(
        self,
        principal: Principal,
        resource: Resource,
        *actions: Action,
        visible_with: Action | None = None,
        known: bool = False,
    ) -> None:
        """The portal's one authorization rule; see ``require_with``."""
        await require_with(
            self.check, principal, resource, *actions, visible_with=visible_with, known=known
        )


Check = Callable[[UUID | str, Action, Resource], Awaitable[Decision]]


async def require_with(
    check: Check,
    principal: Principal,
    resource: Resource,
    *actions: Action,
    visible_with: Action | None = None,
    known: bool = False,
) -> None:
    """Pass if the caller may do any of ``actions`` on ``resource``; otherwise refuse.

    The refusal must not reveal what the caller may not see: it is 404 ("no such ...")
    unless the caller may see the object, then 403. The caller may see it when
    ``visible_with`` (usually the read action) is allowed, or when ``known`` says the
    caller knows of it anyway (e.g. their own customer). Operator staff pass without
    asking; so do services, which only reach routes that admitted their token's scope
    (``servicekit.auth.principal_or_service``; every other route refuses them). The
    delegation client and its test double both answer through this function, so a
    service's tests see exactly the production 404/403 behaviour.
    """
    if not actions:
        raise ValueError("require needs at least one action")
    if principal.is_operator or principal.is_service:
        return
    for act in actions:
        if (await check(principal.subject, act, resource)).allowed:
            return
    if not known and visible_with is not None and visible_with not in actions:
        known = (await check(principal.subject, visible_with, resource)).allowed
    if known:
        raise Forbidden(f"Not allowed to {' or '.join(actions)} on this {_name(resource)}")
    raise NotFound(f"No such {_name(resource)}")


def _name(resource: Resource) -> str:
    return resource.type.replace("_", " ")
