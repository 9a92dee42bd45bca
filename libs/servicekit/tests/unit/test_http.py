"""ServiceClient: one service asking another with its own token."""

from __future__ import annotations

import httpx
import pytest

from servicekit.http import ServiceClient
from servicekit.problems import ServiceUnavailable


class Tokens:
    def __init__(self) -> None:
        self.issued = 0

    async def token(self) -> str:
        self.issued += 1
        return f"token-{self.issued}"

    def invalidate(self) -> None:
        pass


def client(handler, tokens: Tokens | None = None) -> ServiceClient:  # type: ignore[no-untyped-def]
    return ServiceClient(
        "billing", "http://billing.test", tokens or Tokens(), transport=httpx.MockTransport(handler)
    )


async def test_get_bytes_returns_the_document_and_none_for_404():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/invoices/1/ubl":
            return httpx.Response(200, content=b"<Invoice/>")
        return httpx.Response(404)

    peer = client(handler)
    assert await peer.get_bytes("/v1/invoices/1/ubl") == b"<Invoice/>"
    assert await peer.get_bytes("/v1/invoices/2/ubl") is None
    await peer.close()


async def test_a_refused_token_is_renewed_once_then_a_failure_is_unavailable():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(401 if len(seen) == 1 else 500)

    peer = client(handler)
    with pytest.raises(ServiceUnavailable):
        await peer.get_bytes("/v1/invoices/1/ubl")
    assert seen == ["Bearer token-1", "Bearer token-2"]
    await peer.close()
