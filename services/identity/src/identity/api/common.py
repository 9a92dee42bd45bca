"""Small helpers shared by the route modules."""

from __future__ import annotations

from fastapi import Request


def client_ip(request: Request) -> str:
    # uvicorn's proxy_headers already replaced this with X-Forwarded-For's client when
    # the request came through a trusted proxy (--forwarded-allow-ips).
    return request.client.host if request.client else "unknown"
