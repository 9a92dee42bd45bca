"""The admission limit: a saturated service refuses the excess at once with 503 and
Retry-After, serves what it admitted, and never refuses its health and metrics routes."""

import asyncio

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from servicekit.overload import AdmissionLimit


def _app(gate: asyncio.Event, *, max_concurrency: int = 2, max_queue: int = 1) -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await gate.wait()
        return {"ok": True}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> dict[str, str]:
        return {}

    app.add_middleware(
        AdmissionLimit,
        service="test",
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        queue_timeout_s=60.0,  # the waiter is released by the gate, not by time
    )
    return app


async def _until(condition: object) -> None:
    while not condition():  # type: ignore[operator]  # noqa: ASYNC110
        await asyncio.sleep(0)


def _limit(app: FastAPI) -> AdmissionLimit:
    # Starlette builds the middleware stack on the first request.
    layer = app.middleware_stack
    while not isinstance(layer, AdmissionLimit):
        layer = layer.app  # type: ignore[union-attr]
    return layer


async def test_a_saturated_service_refuses_the_excess_with_503_and_retry_after() -> None:
    gate = asyncio.Event()
    app = _app(gate)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/healthz")  # builds the stack
        limit = _limit(app)
        running = [asyncio.create_task(client.get("/slow")) for _ in range(3)]
        await _until(lambda: limit.in_flight == 2 and len(limit._waiting) == 1)

        refused = await client.get("/slow")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 503

        gate.set()
        answers = await asyncio.gather(*running)
    assert [a.status_code for a in answers] == [200, 200, 200]  # the queued one was served
    assert limit.in_flight == 0 and not limit._waiting


async def test_health_and_metrics_are_answered_while_saturated() -> None:
    gate = asyncio.Event()
    app = _app(gate, max_concurrency=1, max_queue=0)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/healthz")
        limit = _limit(app)
        busy = asyncio.create_task(client.get("/slow"))
        await _until(lambda: limit.in_flight == 1)
        assert (await client.get("/slow")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        gate.set()
        assert (await busy).status_code == 200


async def test_a_request_that_waits_past_its_budget_is_refused_and_leaves_no_slot_taken() -> None:
    gate = asyncio.Event()
    app = _app(gate, max_concurrency=1, max_queue=5)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/healthz")
        limit = _limit(app)
        limit.queue_timeout_s = 0.0  # any wait is over budget
        busy = asyncio.create_task(client.get("/slow"))
        await _until(lambda: limit.in_flight == 1)
        assert (await client.get("/slow")).status_code == 503
        assert not limit._waiting
        gate.set()
        assert (await busy).status_code == 200
    assert limit.in_flight == 0
