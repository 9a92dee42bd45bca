"""Plain ASGI middlewares every service runs: request telemetry and the fast lane.

``RequestTelemetry`` gives every request one server span (continuing the caller's
``traceparent``, named after the route template), counts and times it by route, and adds
``X-Trace-Id``. It is ours rather than OpenTelemetry's FastAPI instrumentation, which
wraps the whole middleware stack: with it, a request refused by the admission limit
(ADR 23) still paid for a span and three ASGI wrappers, and every request for three spans.

``FastLane`` answers a few hot, read-only routes (delegation's ``/v1/check``, asked on
every request of every service) without the framework's per-request machinery: no
Starlette ``Request``, no dependency solving, no response-model pass. See ADR 0026. A
fast handler gets the raw body and headers and either returns the answer or ``None``;
``None``, a ``Problem`` or a validation error sends the same request (its body replayed)
through the full FastAPI route, which gives the exact refusal (401, 403, 422 with field
errors, 503 with ``Retry-After``) from the one place that defines it. So a fast handler
only has to be right about the answers it gives, and must not change anything: a
refused request runs twice.

The order, outermost first: ``AdmissionLimit``, ``RequestTelemetry``, ``FastLane``, the
FastAPI app.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from opentelemetry import trace
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from servicekit.problems import PROBLEM_JSON, Problem, problem_for_failure
from servicekit.telemetry import context_from_mapping

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)

Scope = dict[str, Any]
ASGIApp = Any
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _trace_id_header() -> tuple[bytes, bytes] | None:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return (b"x-trace-id", format(ctx.trace_id, "032x").encode())


# Not traced (probes every few seconds), but counted.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
LANE_ROUTE = "servicekit.fast_route"  # the scope key naming the route the lane answered


def _carrier(scope: Scope) -> dict[str, str]:
    return {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in scope["headers"]
        if k in (b"traceparent", b"tracestate")
    }


class RequestTelemetry:
    """One server span per request, its count and duration by route template, and the
    ``X-Trace-Id`` header (the trace id lets support find a request's logs and follow it
    through Kafka)."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self._tracer = trace.get_tracer("servicekit.http")
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        status = 500

        async def send_with_trace_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                header = _trace_id_header()
                if header is not None:
                    message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        try:
            if scope["path"] in UNTRACED_PATHS:
                await self.app(scope, receive, send_with_trace_id)
                return
            carrier = _carrier(scope)
            with self._tracer.start_as_current_span(
                method,
                context=context_from_mapping(carrier) if carrier else None,
                kind=trace.SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": scope["path"]},
            ) as span:
                try:
                    await self.app(scope, receive, send_with_trace_id)
                finally:
                    route = _route_of(scope)
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
        finally:
            self._observe(method, _route_of(scope), status, started)

    def _observe(self, method: str, route: str, status: int, started: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(self.service, method, route, status)
            self._counters[(method, route, status)] = counter
        timer = self._timers.get((method, route))
        if timer is None:
            timer = HTTP_LATENCY.labels(self.service, method, route)
            self._timers[(method, route)] = timer
        counter.inc()
        timer.observe(time.perf_counter() - started)


def _route_of(scope: Scope) -> str:
    """The route template the request matched (``/v1/invoices/{invoice_id}``), so that
    metrics and span names do not carry ids; ``unmatched`` for a 404."""
    lane = scope.get(LANE_ROUTE)
    if lane is not None:
        return str(lane)
    return str(getattr(scope.get("route"), "path", "unmatched"))


@dataclass(frozen=True)
class FastRequest:
    scope: Scope
    body: bytes
    path_params: Mapping[str, str] = field(default_factory=dict)  # a template's ``{name}``s

    def query(self) -> dict[str, list[str]]:
        """The query string's parameters, each with every value given."""
        raw = self.scope.get("query_string", b"")
        return parse_qs(raw.decode("latin-1"), keep_blank_values=True) if raw else {}

    def header(self, name: bytes) -> str | None:
        """A request header by its lower-case name, or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def is_json(self) -> bool:
        """Whether FastAPI would read the body as JSON: no content type, or
        ``application/json`` or ``application/*+json``."""
        value = self.header(b"content-type")
        if not value:
            return True
        media = value.split(";", 1)[0].strip().lower()
        main, _, sub = media.partition("/")
        return main == "application" and (sub == "json" or sub.endswith("+json"))

    def bearer_token(self) -> str | None:
        scheme, _, token = (self.header(b"authorization") or "").partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True)
class FastResponse:
    body: bytes
    status: int = 200
    content_type: bytes = b"application/json"


FastHandler = Callable[[FastRequest], Awaitable[FastResponse | None]]
FastRoutes = MutableMapping[tuple[str, str], FastHandler]


def json_body(value: Any) -> bytes:
    """JSON as FastAPI's ``JSONResponse`` renders it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _template(path: str) -> re.Pattern[str] | None:
    """A route template's pattern (``{name}`` matches one path segment), or None for an
    exact path."""
    if "{" not in path:
        return None
    parts = re.split(r"\{(\w+)\}", path)
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(pattern + r"\Z")


class FastLane:
    """See the module's docstring. ``routes`` maps (method, path) to a handler, the path
    exact or a template as FastAPI writes it (``/v1/accounts/{account_id}/invoices``: the
    handler gets ``path_params``). It is read on every request, so routes registered
    after the app is built count."""

    # A body larger than this goes through the full route (which may refuse it).
    MAX_BODY = 1 << 20

    def __init__(self, app: ASGIApp, *, routes: FastRoutes) -> None:
        self.app = app
        self.routes = routes
        self._templates: list[tuple[str, str, re.Pattern[str], FastHandler]] = []
        self._compiled_from: dict[tuple[str, str], FastHandler] = {}

    def _match(self, method: str, path: str) -> tuple[FastHandler, str, dict[str, str]] | None:
        handler = self.routes.get((method, path))
        if handler is not None:
            return handler, path, {}
        if self._compiled_from != self.routes:
            self._compiled_from = dict(self.routes)
            self._templates = [
                (m, template, pattern, h)
                for (m, template), h in self.routes.items()
                if (pattern := _template(template)) is not None
            ]
        for m, template, pattern, h in self._templates:
            if m == method and (found := pattern.match(path)) is not None:
                return h, template, found.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = None
        if scope["type"] == "http" and self.routes:
            matched = self._match(scope["method"], scope["path"])
        if matched is None:
            await self.app(scope, receive, send)
            return
        handler, route, params = matched
        body, complete = await _read_body(receive, self.MAX_BODY)
        replay = _replaying(body, complete, receive)
        if not complete:
            await self.app(scope, replay, send)
            return
        try:
            response = await handler(FastRequest(scope, body, params))
        except (Problem, ValidationError):
            response = None  # the full route gives the exact refusal
        except Exception as exc:  # database outage or a bug: as the full route would
            problem = problem_for_failure(exc, f"{scope['method']} {scope['path']}")
            response = FastResponse(
                json_body(problem.body(scope["path"])), problem.status, PROBLEM_JSON.encode()
            )
            headers = [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()]
            scope[LANE_ROUTE] = route
            await _send(send, response, headers)
            return
        if response is None:
            await self.app(scope, replay, send)
            return
        scope[LANE_ROUTE] = route
        await _send(send, response, [])


async def _send(send: Send, response: FastResponse, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and whether it was read whole (False past ``limit``, or when
    the client went away)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def _replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """``receive`` for the full app: what was read already, then the rest as it comes."""
    pending = True

    async def replay() -> dict[str, Any]:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay
