"""Opaque cursors for list routes: ``?limit=`` (default 50, max 500) and ``cursor``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query

from servicekit.problems import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=500)]


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadRequest("The cursor is not valid", slug="invalid-cursor") from exc
    if not isinstance(data, dict):
        raise BadRequest("The cursor is not valid", slug="invalid-cursor")
    return data


def page(items: list[Any], limit: int, position_of: Any) -> dict[str, Any]:
    """Given up to ``limit + 1`` items, return the page and the next cursor."""
    has_more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(position_of(items[-1])) if has_more and items else None
    return {"items": items, "next_cursor": next_cursor}


def time_id_position(at: datetime, item_id: UUID) -> dict[str, str]:
    """Cursor position of a list ordered by (time, id): the common keyset for our lists."""
    return {"t": at.isoformat(), "id": str(item_id)}


def decode_time_id_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    """The (time, id) position written by ``time_id_position``, the time aware; 400 if it
    is not one."""
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        at, item_id = datetime.fromisoformat(str(position["t"])), UUID(str(position["id"]))
    except (KeyError, ValueError) as exc:
        raise BadRequest("The cursor is not valid", slug="invalid-cursor") from exc
    # Cursors handed out while SQLite gave naive times have no offset; they are UTC.
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)), item_id
