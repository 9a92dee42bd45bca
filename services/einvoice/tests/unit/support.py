"""Helpers shared by the SQLite-backed tests: read the outbox, sign bank callbacks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy import select, text

from contracts.envelope import CloudEvent
from einvoice import domain

SECRET = "bank-test-secret"


async def events(app, topic: str | None = None) -> list[CloudEvent]:
    db = app.state.kit.db
    async with db.sessions() as s:
        rows = (await s.execute(select(db.outbox.c.value).order_by(db.outbox.c.seq))).all()
    found = [CloudEvent.from_bytes(r.value) for r in rows]
    return [e for e in found if topic is None or e.type == topic]


async def count_rows(app, table: str) -> int:
    async with app.state.kit.db.sessions() as s:
        return int((await s.execute(text(f"SELECT count(*) FROM {table}"))).scalar() or 0)


def token_of(event: CloudEvent) -> str:
    url = event.data["params"]["confirm_url"]
    return parse_qs(urlparse(url).query)["token"][0]


def signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {
        "X-Bank-Signature": domain.bank_signature(raw, secret),
        "content-type": "application/json",
    }
