"""Calls from one service to another's HTTP API, with this service's own token.

Fail closed: a peer that cannot be reached, answers 5xx, or keeps refusing our token is a
503 for the request that needed it (``ServiceUnavailable``), never a silent "no". The
token is fetched again once when the peer answers 401 (keys rotate). The trace context
goes along, so the peer's spans join the caller's trace.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from servicekit.problems import ServiceUnavailable
from servicekit.telemetry import current_trace_headers


class TokenSource(Protocol):
    async def token(self) -> str: ...

    def invalidate(self) -> None: ...


class ServiceClient:
    def __init__(
        self,
        peer: str,
        base_url: str,
        tokens: TokenSource,
        *,
        timeout_s: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.peer = peer
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def get_json(self, path: str) -> Any | None:
        """The peer's JSON answer to ``GET path``; None when it answers 404."""
        resp = await self._get(path)
        if resp is None:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise ServiceUnavailable(f"The {self.peer} service gave no JSON") from exc

    async def get_bytes(self, path: str) -> bytes | None:
        """The body of the peer's answer to ``GET path`` (a document); None on 404."""
        resp = await self._get(path)
        return None if resp is None else resp.content

    async def _get(self, path: str) -> httpx.Response | None:
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {await self.tokens.token()}",
                **current_trace_headers(),
            }
            try:
                resp = await self._http.get(f"{self.base_url}{path}", headers=headers)
            except httpx.HTTPError as exc:
                raise ServiceUnavailable(f"The {self.peer} service is unreachable") from exc
            if resp.status_code == 401 and attempt == 1:
                self.tokens.invalidate()
                continue
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise ServiceUnavailable(f"The {self.peer} service answered {resp.status_code}")
            return resp
        raise ServiceUnavailable(f"The {self.peer} service refused this service's token")

    async def close(self) -> None:
        await self._http.aclose()
