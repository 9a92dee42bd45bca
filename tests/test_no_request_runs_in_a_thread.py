"""No route of any service makes FastAPI hop to a worker thread.

FastAPI runs a plain ``def`` endpoint or dependency in its thread pool: a thread hop on
every request of that route (it halved the CPU cost of a check when removed, ADR 26).
Every endpoint and every dependency is therefore ``async def``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

SERVICES = ["identity", "delegation", "billing", "fleet", "einvoice", "notifier"]


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        # An included router (FastAPI 0.165 keeps it whole, as ``original_router``).
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and hasattr(inner, "routes"):
            yield from _routes(inner.routes)
        else:
            yield route


def _is_async(call: Any) -> bool:
    return (
        inspect.iscoroutinefunction(call)
        or inspect.isasyncgenfunction(call)
        or inspect.iscoroutinefunction(getattr(call, "__call__", None))
    )


def _sync_calls(dependant: Any) -> Iterator[str]:
    for dep in dependant.dependencies:
        if dep.call is not None and not _is_async(dep.call):
            yield f"{dep.call.__module__}.{dep.call.__qualname__}"
        yield from _sync_calls(dep)


@pytest.mark.parametrize("service", SERVICES)
def test_every_endpoint_and_dependency_is_async(service: str) -> None:
    app = importlib.import_module(f"{service}.main").create_app()
    api_routes = [r for r in _routes(app.routes) if isinstance(r, APIRoute)]
    assert len(api_routes) > 3
    threaded = {
        f"{', '.join(r.methods)} {r.path}: {call}"
        for r in api_routes
        for call in (
            [] if _is_async(r.endpoint) else [f"endpoint {r.endpoint.__qualname__}"],
            *[[c] for c in _sync_calls(r.dependant)],
        )
        for call in call
    }
    assert not threaded, sorted(threaded)
