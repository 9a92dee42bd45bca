"""Small helpers shared by the route modules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import Request

from servicekit.pagination import decode_cursor
from servicekit.problems import BadRequest


def client_ip(request: Request) -> str:
    # uvicorn's proxy_headers already replaced this with X-Forwarded-For's client when
    # the request came through a trusted proxy (--forwarded-allow-ips).
    return request.client.host if request.client else "unknown"


def after_position(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        return datetime.fromisoformat(str(position["t"])), uuid.UUID(str(position["id"]))
    except (KeyError, ValueError) as exc:
        raise BadRequest("The cursor is not valid", slug="invalid-cursor") from exc


def position_of(created_at: datetime, item_id: uuid.UUID) -> dict[str, Any]:
    return {"t": created_at.isoformat(), "id": str(item_id)}
