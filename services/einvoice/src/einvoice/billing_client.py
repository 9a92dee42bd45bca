"""Asks billing about a billing account (billing owns them; we never read its tables).

One synchronous call per account we have not seen before; the answer's customer and kind
are cached in our own table by the caller. Timeout and failure mode: an unreachable or
failing billing is a 503 for the request that needed it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from servicekit.http import ServiceClient, TokenSource
from servicekit.problems import ServiceUnavailable


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
        # ``transport`` lets tests put a fake billing at the edge of this service.
        self._billing = ServiceClient(
            "billing", base_url, tokens, timeout_s=timeout_s, transport=transport
        )

    async def close(self) -> None:
        await self._billing.close()

    async def get_ubl(self, invoice_id: uuid.UUID) -> bytes | None:
        """The invoice's Peppol BIS 3.0 UBL document; None when billing has none."""
        return await self._billing.get_bytes(f"/v1/invoices/{invoice_id}/ubl")

    async def get_account(self, billing_account_id: uuid.UUID) -> AccountFacts | None:
        """The account's facts, None when billing does not know it."""
        body = await self._billing.get_json(f"/v1/billing-accounts/{billing_account_id}")
        if body is None:
            return None
        try:
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
