"""The fast lane answers what its handler answers, and leaves every refusal to the route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from servicekit.asgi import (
    HTTP_REQUESTS,
    FastLane,
    FastRequest,
    FastResponse,
    RequestTelemetry,
    json_body,
)
from servicekit.problems import Forbidden, install_problem_handlers
from servicekit.telemetry import configure_tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Echo(BaseModel):
    word: str


def app_with(handler: Any) -> tuple[FastAPI, list[str]]:
    """An app whose ``POST /echo`` route answers ``{"route": word}``; the lane answers with
    ``handler``. Returns the app and the list of words the route saw."""
    seen: list[str] = []
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})  # as create_app
    install_problem_handlers(app)

    @app.post("/echo")
    async def echo(body: Echo) -> dict[str, str]:
        if body.word == "forbidden":
            raise Forbidden("Not for you")
        seen.append(body.word)
        return {"route": body.word}

    # As create_app stacks them.
    app.add_middleware(FastLane, routes={("POST", "/echo"): handler})
    app.add_middleware(RequestTelemetry, service="test")
    return app, seen


def client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


def answered(status: int) -> float:
    return float(HTTP_REQUESTS.labels("test", "POST", "/echo", status)._value.get())


@pytest.fixture(autouse=True, scope="module")
def tracing() -> None:
    configure_tracing("test", None)  # spans with ids, as in a service


async def test_the_handlers_answer_is_sent_with_a_trace_id_and_counted() -> None:
    async def handler(request: FastRequest) -> FastResponse:
        word = Echo.model_validate_json(request.body).word
        return FastResponse(json_body({"lane": word, "token": request.bearer_token()}))

    app, seen = app_with(handler)
    before = answered(200)
    async with client(app) as c:
        resp = await c.post("/echo", json={"word": "hé"}, headers={"Authorization": "Bearer t0"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"lane": "hé", "token": "t0"}
    assert len(resp.headers["x-trace-id"]) == 32
    assert seen == []  # the route never ran
    assert answered(200) == before + 1


async def test_a_caller_s_trace_is_continued() -> None:
    async def handler(request: FastRequest) -> FastResponse:
        return FastResponse(b"{}")

    app, _ = app_with(handler)
    async with client(app) as c:
        resp = await c.post(
            "/echo",
            json={"word": "x"},
            headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
    assert resp.headers["x-trace-id"] == TRACE_ID


async def test_a_declined_request_runs_through_the_route_with_its_body() -> None:
    async def handler(request: FastRequest) -> FastResponse | None:
        return None

    app, seen = app_with(handler)
    async with client(app) as c:
        resp = await c.post("/echo", json={"word": "again"})
    assert resp.json() == {"route": "again"}
    assert seen == ["again"]


async def test_a_refusal_or_a_bad_body_is_answered_by_the_route() -> None:
    async def handler(request: FastRequest) -> FastResponse:
        body = Echo.model_validate_json(request.body)  # ValidationError on a bad body
        if body.word == "forbidden":
            raise Forbidden("the lane's refusal is not the answer")
        return FastResponse(b"{}")

    app, seen = app_with(handler)
    async with client(app) as c:
        refused = await c.post("/echo", json={"word": "forbidden"})
        malformed = await c.post("/echo", json={"wrod": "x"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Not for you"
    assert malformed.status_code == 422
    assert malformed.headers["content-type"].startswith("application/problem+json")
    assert seen == []


async def test_a_database_outage_is_a_503_with_retry_after_and_a_bug_a_500() -> None:
    async def handler(request: FastRequest) -> FastResponse:
        if Echo.model_validate_json(request.body).word == "outage":
            raise ConnectionRefusedError("connect to 127.0.0.1:5432 refused")  # as asyncpg
        raise RuntimeError("a bug")

    app, seen = app_with(handler)
    async with client(app) as c:
        outage = await c.post("/echo", json={"word": "outage"})
        bug = await c.post("/echo", json={"word": "bug"})
    assert outage.status_code == 503
    assert outage.headers["retry-after"] == "5"
    assert outage.headers["content-type"] == "application/problem+json"
    assert bug.status_code == 500
    assert bug.json()["type"].endswith("/internal-error")
    assert seen == []  # not run twice


async def test_other_routes_and_methods_pass_by() -> None:
    calls: list[str] = []

    async def handler(request: FastRequest) -> FastResponse:
        calls.append(request.scope["path"])
        return FastResponse(b"{}")

    app, _ = app_with(handler)

    @app.get("/echo")
    async def get_echo() -> dict[str, str]:
        return {"method": "GET"}

    async with client(app) as c:
        assert (await c.get("/echo")).json() == {"method": "GET"}
        assert (await c.post("/echo/", json={"word": "x"})).status_code in (307, 404)
    assert calls == []


def test_json_content_types_are_read_as_fastapi_reads_them() -> None:
    def request(content_type: str | None) -> FastRequest:
        headers = [] if content_type is None else [(b"content-type", content_type.encode())]
        return FastRequest({"headers": headers}, b"{}")

    assert request(None).is_json()
    assert request("application/json; charset=utf-8").is_json()
    assert request("application/merge-patch+json").is_json()
    assert not request("text/plain").is_json()
    assert not request("multipart/form-data; boundary=x").is_json()


async def test_each_request_is_one_span_named_after_its_route_template() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def handler(request: FastRequest) -> FastResponse | None:
        return FastResponse(b"{}") if b"lane" in request.body else None

    app, _ = app_with(handler)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    refused_before = answered(403)
    # Sampled by the caller: recorded whether or not this process exports (telemetry).
    sampled = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    async with client(app) as c:
        await c.post("/echo", json={"word": "lane"}, headers=sampled)
        await c.post("/echo", json={"word": "forbidden"}, headers=sampled)
        resp = await c.get("/things/7", headers=sampled)
        await c.get("/healthz")  # not a route here: 404, and not traced
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["POST /echo", "POST /echo", "GET /things/{thing_id}"]
    assert [s.attributes["http.response.status_code"] for s in spans] == [200, 403, 200]
    assert resp.headers["x-trace-id"] == TRACE_ID == format(spans[2].context.trace_id, "032x")
    assert answered(403) == refused_before + 1
    exporter.clear()


async def test_a_templated_route_gets_its_path_params_and_query_and_is_counted_by_template() -> (
    None
):
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    seen: list[str] = []

    @app.get("/accounts/{account_id}/invoices")
    async def invoices(account_id: str) -> dict[str, str]:
        seen.append(account_id)
        return {"route": account_id}

    async def handler(request: FastRequest) -> FastResponse | None:
        account = request.path_params["account_id"]
        if account == "declined":
            return None
        return FastResponse(json_body({"lane": account, "query": request.query()}))

    template = "/accounts/{account_id}/invoices"
    app.add_middleware(FastLane, routes={("GET", template): handler})
    app.add_middleware(RequestTelemetry, service="test")
    counted = HTTP_REQUESTS.labels("test", "GET", template, 200)
    before = counted._value.get()
    async with client(app) as c:
        lane = await c.get("/accounts/a-1/invoices?limit=5&to=2026-01&to=2026-02&x=")
        declined = await c.get("/accounts/declined/invoices")
        deeper = await c.get("/accounts/a/b/invoices")  # one segment per parameter
        other = await c.post("/accounts/a-1/invoices")
    assert lane.json() == {
        "lane": "a-1",
        "query": {"limit": ["5"], "to": ["2026-01", "2026-02"], "x": [""]},
    }
    assert declined.json() == {"route": "declined"} and seen == ["declined"]
    assert deeper.status_code == 404 and other.status_code == 405
    assert counted._value.get() == before + 2  # by template, not by the account's id
