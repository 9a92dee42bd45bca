"""Refuse what cannot be served in time instead of queueing it until it times out.

``AdmissionLimit`` is a plain ASGI middleware in front of every route. At most
``max_concurrency`` requests run at once; up to ``max_queue`` more wait for a slot, each
at most ``queue_timeout_s``. Anything beyond is answered at once with 503
problem+json and ``Retry-After``: a client (or the gateway) retries later, and the
requests that were admitted keep their normal latency. ``/healthz``, ``/readyz`` and
``/metrics`` are never refused, so an overloaded instance is not restarted or taken out
of its Service for being busy. See ADR 0023.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from prometheus_client import Counter, Gauge

from servicekit.problems import PROBLEM_JSON, TYPE_BASE

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

SHED = Counter(
    "http_requests_shed_total",
    "Requests refused with 503 because the service was saturated",
    ["service"],
)
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being served now", ["service"])

Scope = dict[str, Any]
ASGIApp = Any


class AdmissionLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_concurrency: int,
        max_queue: int,
        queue_timeout_s: float,
        retry_after_s: int = 1,
    ) -> None:
        self.app = app
        self.service = service
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._shed = SHED.labels(service)
        self._gauge = IN_FLIGHT.labels(service)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.max_concurrency <= 0:
            await self.app(scope, receive, send)
            return
        if scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            self._shed.inc()
            await self._refuse(scope, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _admit(self) -> bool:
        if self.in_flight < self.max_concurrency and not self._waiting:
            self._enter()
            return True
        if len(self._waiting) >= self.max_queue:
            return False
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(slot)
        try:
            await asyncio.wait_for(asyncio.shield(slot), self.queue_timeout_s)
        except TimeoutError:
            if slot.done():  # handed a slot just as the wait ran out: take it
                return True
            self._waiting.remove(slot)
            return False
        except BaseException:
            if slot.done():
                self._release()
            else:
                self._waiting.remove(slot)
            raise
        return True

    def _enter(self) -> None:
        self.in_flight += 1
        self._gauge.set(self.in_flight)

    def _release(self) -> None:
        # Hand the slot straight to the oldest waiter (in_flight stays the same).
        while self._waiting:
            slot = self._waiting.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.in_flight -= 1
        self._gauge.set(self.in_flight)

    async def _refuse(self, scope: Scope, send: Any) -> None:
        body = json.dumps(
            {
                "type": TYPE_BASE + "overloaded",
                "title": "Service unavailable",
                "status": 503,
                "detail": "The service is saturated; retry after the indicated delay",
                "instance": scope.get("path"),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(self.retry_after_s).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
