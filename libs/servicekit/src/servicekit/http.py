"""Calls from one service to another's HTTP API, with this service's own token.

Fail closed: a peer that cannot be reached, answers 5xx, or keeps refusing our token is a
503 for the request that needed it (``ServiceUnavailable``), never a silent "no". The
token is fetched again once when the peer answers 401 (keys rotate). The trace context
goes along, so the peer's spans join the caller's trace.

Fail fast: a peer that is overloaded or down must not hold this service's requests for
seconds each (they would pile up and overload this service in turn). Calls have a short
timeout, and a ``CircuitBreaker`` opens after a few failures in a row: for a second every
call is a 503 with ``Retry-After`` at once, then one call tries the peer again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from servicekit.problems import ServiceUnavailable
from servicekit.telemetry import current_trace_headers


class TokenSource(Protocol):
    async def token(self) -> str: ...

    def invalidate(self) -> None: ...


class CircuitBreaker:
    """Closed: calls go through. After ``failures`` failed calls in a row: open for
    ``open_s`` (calls refused at once), then half-open: one call tries; its success
    closes the circuit, its failure opens it again."""

    def __init__(
        self,
        peer: str,
        *,
        failures: int = 5,
        open_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.peer = peer
        self.failures = failures
        self.open_s = open_s
        self.clock = clock
        self._failed = 0
        self._open_until = 0.0
        self._trial = False
        self._trial_until = 0.0

    @property
    def is_open(self) -> bool:
        return self._failed >= self.failures and (self.clock() < self._open_until or self._trial)

    def before(self) -> None:
        """Raise 503 at once while the circuit is open."""
        if self.failures <= 0 or self._failed < self.failures:
            return
        now = self.clock()
        if now < self._open_until or (self._trial and now < self._trial_until):
            retry = max(1, round(self._open_until - now))
            raise ServiceUnavailable(
                f"The {self.peer} service is unavailable", headers={"Retry-After": str(retry)}
            )
        # Half-open: this call tries the peer. Should it never report back, another call
        # may try after open_s: the circuit cannot stay open for good.
        self._trial = True
        self._trial_until = now + self.open_s

    def release(self) -> None:
        """The call ended neither in success nor in the peer's failure (cancelled)."""
        self._trial = False

    def success(self) -> None:
        self._failed = 0
        self._trial = False

    def failure(self) -> None:
        self._failed += 1
        self._trial = False
        if self._failed >= self.failures:
            self._open_until = self.clock() + self.open_s


class ServiceClient:
    def __init__(
        self,
        peer: str,
        base_url: str,
        tokens: TokenSource,
        *,
        timeout_s: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.peer = peer
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self.breaker = breaker or CircuitBreaker(peer)

    async def get_json(self, path: str) -> Any | None:
        """The peer's JSON answer to ``GET path``; None when it answers 404."""
        resp = await self._get(path)
        if resp is None:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise ServiceUnavailable(f"The {self.peer} service gave no JSON") from exc

    async def get_bytes(self, path: str) -> bytes | None:
        """The body of the peer's answer to ``GET path`` (a document); None on 404."""
        resp = await self._get(path)
        return None if resp is None else resp.content

    async def _get(self, path: str) -> httpx.Response | None:
        self.breaker.before()
        try:
            resp = await self._fetch(path)
        except ServiceUnavailable:
            self.breaker.failure()
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.success()
        return resp

    async def _fetch(self, path: str) -> httpx.Response | None:
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {await self.tokens.token()}",
                **current_trace_headers(),
            }
            try:
                resp = await self._http.get(f"{self.base_url}{path}", headers=headers)
            except httpx.HTTPError as exc:
                raise ServiceUnavailable(f"The {self.peer} service is unreachable") from exc
            if resp.status_code == 401 and attempt == 1:
                self.tokens.invalidate()
                continue
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise ServiceUnavailable(f"The {self.peer} service answered {resp.status_code}")
            return resp
        raise ServiceUnavailable(f"The {self.peer} service refused this service's token")

    async def close(self) -> None:
        await self._http.aclose()
