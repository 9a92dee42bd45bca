"""The invoice list's fast lane (ADR 0026) gives exactly the route's answers, refusals
included, on SQLite and PostgreSQL, and answers the plain reads itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.models import BillingAccount, Invoice
from servicekit.delegation_client import Resource
from servicekit.testing import FakeDelegation, TokenFactory, fast_lane_answers, without_fast_lane

from .conftest import billing_app
from .factories import create_account

pytestmark = pytest.mark.integration

READER, STRANGER = uuid.uuid4(), uuid.uuid4()


def rule(subject: str, action: str, resource: Resource) -> bool:
    return subject == str(READER) and action == "invoice.read"


@pytest.fixture(params=["sqlite", "postgresql"])
async def billing(
    request: pytest.FixtureRequest, tokens: TokenFactory, tmp_path: Path
) -> AsyncIterator[tuple[Any, Any]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/billing.db" if request.param == "sqlite" else None
    async with billing_app(
        tokens,
        FakeDelegation(rule),
        url=url,
        consumer_enabled=False,
        relay_enabled=False,
        billing_worker_enabled=False,
    ) as running_app:
        yield running_app


async def add_invoices(app: Any, account: str, periods: list[str]) -> None:
    """Closed invoices (and a credit note) as a billing run leaves them."""
    async with app.state.kit.db.transaction() as session:
        for i, period in enumerate(periods):
            for kind in ("invoice", "credit_note") if i == 0 else ("invoice",):
                session.add(
                    Invoice(
                        number=f"{kind[:2].upper()}-{uuid.uuid4().hex[:12]}",
                        billing_account_id=uuid.UUID(account),
                        customer_id=uuid.uuid4(),
                        account_kind="mobile",
                        period=period,
                        issued_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
                        due_date=date(2026, 3, 31),
                        objection_deadline=date(2026, 3, 8),
                        total_excl_vat=Decimal("10.50") * (i + 1),
                        vat=Decimal("2.21"),
                        total_incl_vat=Decimal("12.71"),
                        details_removed_at=datetime(2026, 4, 1, tzinfo=UTC) if i == 2 else None,
                        kind=kind,
                    )
                )


async def test_the_lane_answers_as_the_route_does(billing: tuple[Any, Any], tokens) -> None:
    app, client = billing
    operator = tokens.headers(uuid.uuid4(), kind="operator")
    account = await create_account(client, operator)
    await add_invoices(app, account, ["2026-01", "2026-02", "2026-03", "2026-04"])
    ended = await create_account(client, operator)
    await add_invoices(app, ended, ["2026-01"])
    async with app.state.kit.db.transaction() as session:  # as customer.terminated leaves it
        gone = await session.get(BillingAccount, uuid.UUID(ended))
        assert gone is not None
        gone.status = "terminated"
    reader = tokens.headers(READER, kind="user", customer_id=uuid.uuid4())
    stranger = tokens.headers(STRANGER, kind="user", customer_id=uuid.uuid4())
    path = f"/v1/billing-accounts/{account}/invoices"

    first = await client.get(path, params={"limit": 2}, headers=reader)
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor is not None

    cases: list[tuple[str, str, dict[str, str]]] = [
        ("the whole list", path, reader),
        ("a page", f"{path}?limit=2", reader),
        ("the next page", f"{path}?limit=2&cursor={cursor}", reader),
        ("an empty cursor", f"{path}?cursor=", reader),
        ("from and to", f"{path}?from=2026-02&to=2026-03", reader),
        ("from only", f"{path}?from=2026-03&limit=1", reader),
        ("format json and an unknown parameter", f"{path}?format=json&colour=red", reader),
        ("an operator", path, operator),
        ("no right", path, stranger),
        ("no token", path, {}),
        ("a forged token", path, {"Authorization": "Bearer x.y.z"}),
        ("a service token", path, tokens.headers("notifier", kind="service")),
        ("a terminated account", f"/v1/billing-accounts/{ended}/invoices", reader),
        (
            "a terminated account, for an operator",
            f"/v1/billing-accounts/{ended}/invoices",
            operator,
        ),
        ("an unknown account", f"/v1/billing-accounts/{uuid.uuid4()}/invoices", reader),
        ("not an id", "/v1/billing-accounts/not-an-id/invoices", reader),
        ("an id in braces", f"/v1/billing-accounts/{{{account}}}/invoices", reader),
        ("limit 0", f"{path}?limit=0", reader),
        ("limit 501", f"{path}?limit=501", reader),
        ("limit in words", f"{path}?limit=two", reader),
        ("limit twice", f"{path}?limit=1&limit=3", reader),
        ("a foreign cursor", f"{path}?cursor=bm90LWEtY3Vyc29y", reader),
        ("a cursor too long", f"{path}?cursor={'a' * 501}", reader),
        ("a bad period", f"{path}?from=2026-13", reader),
        ("an empty period", f"{path}?to=", reader),
        ("csv", f"{path}?format=csv", reader),
    ]

    async def ask(url: str, headers: dict[str, str]) -> tuple[int, str, Any]:
        resp = await client.get(url, headers=headers)
        body = resp.json() if "json" in resp.headers["content-type"] else resp.text
        return resp.status_code, resp.headers["content-type"], body

    fast, given = [], []
    for _, url, headers in cases:
        with fast_lane_answers(app.state.kit) as answered:
            fast.append(await ask(url, headers))
        given.append(answered[0] if answered else None)
    with without_fast_lane(app.state.kit):
        routed = [await ask(url, headers) for _, url, headers in cases]

    for (name, *_), f, r in zip(cases, fast, routed, strict=True):
        assert f == r, name
    statuses = {name: f[0] for (name, *_), f in zip(cases, fast, strict=True)}
    assert statuses == {
        **{name: 200 for name in statuses},
        "no right": 404,
        "no token": 401,
        "a forged token": 401,
        "a service token": 403,
        "a terminated account": 404,
        "an unknown account": 404,
        "not an id": 422,
        "limit 0": 422,
        "limit 501": 422,
        "limit in words": 422,
        "a foreign cursor": 400,
        "a cursor too long": 422,
        "a bad period": 422,
        "an empty period": 422,
    }
    whole = fast[0][2]
    assert [i["period"] for i in whole["items"]] == ["2026-04", "2026-03", "2026-02"] + [
        "2026-01"
    ] * 2
    assert {i["kind"] for i in whole["items"][3:]} == {"invoice", "credit_note"}
    assert whole["items"][1]["pdf_only"] is True and whole["items"][0]["pdf_only"] is False
    assert whole["items"][0]["totals"]["total_excl_vat"] == "42.00"
    assert fast[2][2]["items"][0]["period"] == "2026-02"  # the page after the first two
    assert [i["period"] for i in fast[4][2]["items"]] == ["2026-03", "2026-02"]
    # Every 200 came from the lane but the CSV file, the id in braces and the repeated
    # limit (the route takes them; the lane only the plainest form); every refusal came
    # from the route.
    routed_200 = {"csv", "an id in braces", "limit twice"}
    lane = {n: 200 if s == 200 and n not in routed_200 else None for n, s in statuses.items()}
    assert dict(zip(statuses, given, strict=True)) == lane
