"""Asks billing about a billing account (billing owns them; we never read its tables).

One synchronous call per account we have not seen before; the answer's customer and kind
are cached in our own table by the caller. Timeout and failure mode: an unreachable or
failing billing is a 503 for the request that needed it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import httpx

from servicekit.problems import ServiceUnavailable
from servicekit.telemetry import current_trace_headers


class TokenSource(Protocol):
    async def token(self) -> str: ...
    def invalidate(self) -> None: ...


@dataclass(frozen=True)
class AccountFacts:
    billing_account_id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    name: str | None
    status: str | None


class BillingClient:
    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        *,
        timeout_s: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        # ``transport`` lets tests put a fake billing at the edge of this service.
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def get_account(self, billing_account_id: uuid.UUID) -> AccountFacts | None:
        """The account's facts, None when billing does not know it."""
        url = f"{self.base_url}/v1/billing-accounts/{billing_account_id}"
        for attempt in (1, 2):
            token = await self.tokens.token()
            headers = {"Authorization": f"Bearer {token}", **current_trace_headers()}
            try:
                resp = await self._http.get(url, headers=headers)
            except httpx.HTTPError as exc:
                raise ServiceUnavailable("The billing service is unreachable") from exc
            if resp.status_code == 401 and attempt == 1:
                self.tokens.invalidate()  # our token may have expired early: ask again once
                continue
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise ServiceUnavailable(f"The billing service answered {resp.status_code}")
            try:
                body = resp.json()
                kind = str(body["kind"])
                if kind not in ("fixed", "mobile"):
                    raise ValueError(kind)
                return AccountFacts(
                    billing_account_id=uuid.UUID(str(body["billing_account_id"])),
                    customer_id=uuid.UUID(str(body["customer_id"])),
                    kind=kind,
                    name=body.get("name"),
                    status=body.get("status"),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ServiceUnavailable("The billing service gave an unreadable answer") from exc
        raise ServiceUnavailable("The billing service refused this service's token")
