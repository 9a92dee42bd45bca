"""An account's invoice list in servicekit's fast lane (ADR 0026).

``GET /v1/billing-accounts/{id}/invoices`` is the portal's most frequent read: every
user opening the invoices page asks it. The lane answers it without FastAPI's
per-request machinery and without an ORM session, through the route's own rule: the
token verified by the kit's verifier; the account's facts and the page read in one
statement straight on the driver (``repository.invoices.account_and_page``, ADR 36);
the caller's right by ``api.auth.readable`` (the route's rule on the account's facts:
404 or 403 by servicekit's one rule) before anything is shown; the reply by the route's
response model.

It takes only the query the route takes in its plainest form: ``limit`` in digits,
``cursor``, ``from`` and ``to`` as ``YYYY-MM``, ``format=json``, each at most once
(unknown parameters are ignored, as the route ignores them). Anything else, and every
refusal, is declined and answered by the route (422, 400 for a cursor it did not hand
out, 401, 403, 404, the CSV and XLSX files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from billing.api.auth import readable
from billing.deps import Deps
from billing.repository import invoices as invoices_repo
from billing.service import invoices
from servicekit.app import ServiceKit
from servicekit.asgi import FastRequest, FastResponse
from servicekit.pagination import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT

INVOICE_LIST = "/v1/billing-accounts/{billing_account_id}/invoices"
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_DIGITS = re.compile(r"[0-9]{1,3}")


@dataclass(frozen=True)
class _ListQuery:
    limit: int
    cursor: str | None
    period_from: str | None
    period_to: str | None


def _list_query(query: dict[str, list[str]]) -> _ListQuery | None:
    """The query in the plainest form the route takes, or None to leave it to the route."""
    given: dict[str, str] = {}
    for name in ("limit", "cursor", "from", "to", "format"):
        values = query.get(name)
        if values is not None:
            if len(values) != 1:
                return None
            given[name] = values[0]
    limit = given.get("limit", str(DEFAULT_LIMIT))
    cursor = given.get("cursor")
    periods = [given.get("from"), given.get("to")]
    if (
        given.get("format", "json") != "json"
        or not _DIGITS.fullmatch(limit)
        or not 1 <= int(limit) <= MAX_LIMIT
        or (cursor is not None and len(cursor) > MAX_CURSOR)
        or any(p is not None and not _PERIOD.fullmatch(p) for p in periods)
    ):
        return None
    return _ListQuery(int(limit), cursor, periods[0] or None, periods[1] or None)


def register_fast_routes(kit: ServiceKit, deps: Deps) -> None:
    async def list_invoices(request: FastRequest) -> FastResponse | None:
        token = request.bearer_token()
        if token is None:
            return None
        query = _list_query(request.query())
        if query is None:
            return None
        text = request.path_params["billing_account_id"]
        try:  # the canonical form only (UUID() also takes braces and "urn:uuid:")
            account_id = UUID(text) if len(text) == 36 else None
        except ValueError:
            account_id = None
        if account_id is None:
            return None
        principal = await kit.verifier.verify(token)
        if principal.is_service:
            return None  # the route refuses service tokens (403)
        facts, rows = await invoices_repo.account_and_page(
            kit.db,
            account_id,
            period_from=query.period_from,
            period_to=query.period_to,
            cursor=query.cursor,
            limit=query.limit,
        )
        await readable(principal, deps, facts)
        return FastResponse(invoices.summaries_page(rows).model_dump_json().encode())

    kit.fast_route("GET", INVOICE_LIST, list_invoices)
