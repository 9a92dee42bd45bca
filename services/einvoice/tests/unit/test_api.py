"""The HTTP contract and the use cases on an embedded SQLite database: no servers (no
relay, no consumer); events are read back from the outbox table."""

from __future__ import annotations

import json
import tempfile
import uuid
from datetime import timedelta

import pytest

from einvoice import domain, service
from einvoice.deps import Deps
from einvoice.settings import EinvoiceSettings
from servicekit.db import utcnow

from ..factories import billing_account, email_address, suffix
from .support import SECRET, count_rows, events, signed, token_of

CONFIRM = "/v1/delivery/email/confirm"


@pytest.fixture
async def app_client(run_app):
    folder = tempfile.mkdtemp(prefix="einvoice-unit-")
    settings = EinvoiceSettings(
        database_url=f"sqlite+aiosqlite:///{folder}/einvoice.db",
        relay_enabled=False,
        consumer_enabled=False,
        bank_callback_secret=SECRET,
        expiry_job_interval_s=3600,
        public_url="https://portal.example",
    )
    async with run_app(settings) as (app, client):
        yield app, client


async def test_default_is_paper_and_unknown_accounts_are_404(app_client, world):
    _app, client = app_client
    acct = billing_account(world, "mobile")
    resp = await client.get(acct.delivery, headers=acct.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["channel"] == "paper" and body["status"] == "active"
    assert body["billing_account_id"] == str(acct.id)
    resp = await client.get(f"/v1/billing-accounts/{uuid.uuid4()}/delivery", headers=acct.headers)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_account_facts_are_asked_of_billing_once(app_client, world):
    _app, client = app_client
    acct = billing_account(world, "mobile")
    for _ in range(3):
        resp = await client.get(acct.delivery, headers=acct.headers)
        assert resp.status_code == 200
    assert world.billing.calls == [str(acct.id)]


async def test_billing_unreachable_is_503(app_client, world):
    _app, client = app_client
    acct = billing_account(world, "mobile")
    world.billing.down = True
    resp = await client.get(acct.delivery, headers=acct.headers)
    assert resp.status_code == 503


async def test_auth_is_required_and_other_customers_get_404(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile")
    path = acct.delivery
    assert (await client.get(path)).status_code == 401
    stranger = world.user(uuid.uuid4())
    assert (await client.get(path, headers=stranger)).status_code == 404
    resp = await client.put(f"{path}/email", headers=stranger, json={"email": email_address()})
    assert resp.status_code == 404
    assert (await client.delete(path, headers=stranger)).status_code == 404
    # A reader who may not manage delivery sees the account but may not change it.
    reader = world.user(acct.customer_id, {"invoice.read"})
    assert (await client.get(path, headers=reader)).status_code == 200
    resp = await client.put(f"{path}/email", headers=reader, json={"email": email_address()})
    assert resp.status_code == 403
    assert await count_rows(app, "delivery_channels") == 0


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("email", {"email": "a@example.com", "alerts": ["email", "sms"]}, "alerts"),
        ("email", {"email": "a@example.com", "alerts": []}, "alerts"),
        ("email", {"email": "a@example.com", "alerts": ["fax"]}, "alerts.0"),
        ("email", {"email": "not-an-address"}, "email"),
        ("email", {"email": "a@example.com", "mobile": "02 123 45 67"}, "mobile"),
        ("email", {"email": "a@example.com", "nickname": "x"}, "nickname"),
        ("email", {"email": "a@example.com", "locale": "de"}, "locale"),
        ("bank-app", {"iban": "BE68539007547035"}, "iban"),
        ("bank-app", {"iban": "NL91ABNA0417164300"}, "iban"),
        ("bank-app", {"iban": "BE68539007547034", "bic": "X"}, "bic"),
    ],
)
async def test_bad_input_is_422_and_changes_nothing(app_client, world, route, body, field):
    app, client = app_client
    acct = billing_account(world, "mobile")
    resp = await client.put(f"{acct.delivery}/{route}", headers=acct.headers, json=body)
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert field in [e["field"] for e in problem["errors"]]
    assert await count_rows(app, "delivery_channels") == 0
    assert await count_rows(app, "outbox") == 0


async def test_email_channel_lifecycle(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile", name="Sales team")
    path, headers = acct.delivery, acct.headers
    local = f"Invoices-{suffix()}"

    resp = await client.put(
        f"{path}/email",
        headers=headers,
        json={
            "email": f"{local}@Example.com",
            "mobile": "0470 12 34 56",
            "alerts": ["sms", "email"],
        },
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "pending_confirmation" and body["channel"] == "email"
    assert body["email"] == f"{local}@example.com" and body["mobile"] == "+32470123456"
    assert body["alerts"] == ["email", "sms"]
    assert "token" not in json.dumps(body)

    [mail] = await events(app, "notification.requested")
    assert mail.data["template"] == "einvoice_email_confirmation"
    assert mail.data["to"]["email"] == f"{local}@example.com"
    assert mail.data["locale"] == "nl"
    assert mail.data["params"]["billing_account_name"] == "Sales team"
    assert mail.data["params"]["confirm_url"].startswith(f"https://portal.example{CONFIRM}?token=")
    token = token_of(mail)
    [changed] = await events(app, "einvoice.channel.changed")
    assert changed.data["status"] == "pending_confirmation"
    assert local not in changed.to_bytes().decode()

    # Until confirmed, paper stays in force.
    view = (await client.get(path, headers=headers)).json()
    assert (view["channel"], view["status"]) == ("email", "pending_confirmation")
    assert view["in_force"]["channel"] == "paper"

    resp = await client.post(CONFIRM, json={"token": token})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "billing_account_id": str(acct.id),
        "channel": "email",
        "status": "active",
        "scope": "billing_account",
        "alerts": ["email", "sms"],
        "covered_billing_account_ids": [str(acct.id)],
    }
    view = (await client.get(path, headers=headers)).json()
    assert (view["channel"], view["status"]) == ("email", "active")
    assert view["in_force"]["channel"] == "email"

    assert (await client.post(CONFIRM, json={"token": token})).status_code == 409
    assert (await client.post(CONFIRM, json={"token": "x" * 43})).status_code == 404

    resp = await client.delete(path, headers=headers)
    assert resp.status_code == 200
    assert (resp.json()["channel"], resp.json()["status"]) == ("paper", "active")
    statuses = [e.data["status"] for e in await events(app, "einvoice.channel.changed")]
    assert statuses == ["pending_confirmation", "active", "cancelled"]


async def test_a_new_request_replaces_the_pending_one(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile")
    put = f"{acct.delivery}/email"
    first_address, second_address = email_address("a"), email_address("b")
    for address in (first_address, second_address):
        resp = await client.put(put, headers=acct.headers, json={"email": address})
        assert resp.status_code == 202
    first, second = await events(app, "notification.requested")
    assert (await client.post(CONFIRM, json={"token": token_of(first)})).status_code == 410
    assert (await client.post(CONFIRM, json={"token": token_of(second)})).status_code == 200
    view = (await client.get(acct.delivery, headers=acct.headers)).json()
    assert view["email"] == second_address


async def test_changing_the_address_needs_a_new_confirmation_alerts_alone_do_not(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile")
    path, headers = acct.delivery, acct.headers
    confirmed, new = email_address("a"), email_address("new")
    await client.put(f"{path}/email", headers=headers, json={"email": confirmed})
    [mail] = await events(app, "notification.requested")
    assert (await client.post(CONFIRM, json={"token": token_of(mail)})).status_code == 200

    resp = await client.put(
        f"{path}/email",
        headers=headers,
        json={"email": confirmed, "mobile": "+32470123456", "alerts": ["email", "sms"]},
    )
    assert resp.status_code == 200 and resp.json()["status"] == "active"
    assert len(await events(app, "notification.requested")) == 1  # no new confirmation

    resp = await client.put(f"{path}/email", headers=headers, json={"email": new})
    assert resp.status_code == 202
    view = (await client.get(path, headers=headers)).json()
    assert view["status"] == "pending_confirmation" and view["email"] == new
    assert view["in_force"]["email"] == confirmed  # the old address serves meanwhile


async def test_one_activation_covers_all_fixed_accounts_of_the_customer(app_client, world):
    app, client = app_client
    hq = billing_account(world, "fixed", name="HQ")
    branch = billing_account(world, "fixed", customer_id=hq.customer_id)
    mobile = billing_account(world, "mobile", customer_id=hq.customer_id)
    headers = hq.headers
    for acct in (branch, mobile):  # known to einvoice before the choice
        await client.get(acct.delivery, headers=headers)

    resp = await client.put(
        f"{hq.delivery}/email", headers=headers, json={"email": email_address(), "locale": "fr"}
    )
    assert resp.status_code == 202 and resp.json()["scope"] == "customer_fixed"
    [mail] = await events(app, "notification.requested")
    assert mail.data["locale"] == "fr"
    resp = await client.post(CONFIRM, json={"token": token_of(mail)})
    fixed = sorted([str(hq.id), str(branch.id)])
    assert sorted(resp.json()["covered_billing_account_ids"]) == fixed

    for acct, channel in ((hq, "email"), (branch, "email"), (mobile, "paper")):
        view = (await client.get(acct.delivery, headers=headers)).json()
        assert view["in_force"]["channel"] == channel, acct
    active = [
        e.data["billing_account_id"]
        for e in await events(app, "einvoice.channel.changed")
        if e.data["status"] == "active"
    ]
    assert sorted(active) == fixed

    # Cancelling on one fixed account returns every fixed account to paper.
    assert (await client.delete(branch.delivery, headers=headers)).status_code == 200
    view = (await client.get(hq.delivery, headers=headers)).json()
    assert view["channel"] == "paper" and view["in_force"]["channel"] == "paper"


async def test_the_fixed_line_channel_needs_the_right_on_every_fixed_account(app_client, world):
    """The attack: a user who may manage one fixed account's delivery would change it for
    every fixed account of the customer."""
    app, client = app_client
    hq = billing_account(world, "fixed", name="HQ")
    branch = billing_account(world, "fixed", customer_id=hq.customer_id)
    for acct in (hq, branch):  # known to einvoice
        await client.get(acct.delivery, headers=hq.headers)
    one_account = world.user(hq.customer_id, {"invoice.read", "einvoice.manage"}, accounts={hq.id})
    body = {"email": email_address(), "locale": "nl"}
    resp = await client.put(f"{hq.delivery}/email", headers=one_account, json=body)
    assert resp.status_code == 403, resp.text
    assert await events(app, "notification.requested") == []  # nothing asked, nothing changed
    both = world.user(
        hq.customer_id, {"invoice.read", "einvoice.manage"}, accounts={hq.id, branch.id}
    )
    resp = await client.put(f"{hq.delivery}/email", headers=both, json=body)
    assert resp.status_code == 202, resp.text


async def test_unconfirmed_request_expires(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile")
    path, headers = acct.delivery, acct.headers
    await client.put(f"{path}/email", headers=headers, json={"email": email_address("robot")})
    [mail] = await events(app, "notification.requested")
    deps: Deps = app.state.deps

    world.now = utcnow() + timedelta(days=6)
    async with app.state.kit.db.transaction() as session:
        assert await service.expire_due(session, deps) == 0
    world.now = utcnow() + timedelta(days=7, minutes=1)
    # Past its time the link is gone even before the job ran.
    assert (await client.post(CONFIRM, json={"token": token_of(mail)})).status_code == 410
    async with app.state.kit.db.transaction() as session:
        assert await service.expire_due(session, deps) == 1
    view = (await client.get(path, headers=headers)).json()
    assert (view["channel"], view["status"]) == ("email", "expired")
    assert view["in_force"]["channel"] == "paper"
    statuses = [e.data["status"] for e in await events(app, "einvoice.channel.changed")]
    assert statuses == ["pending_confirmation", "expired"]
    assert (await client.post(CONFIRM, json={"token": token_of(mail)})).status_code == 410


async def test_bank_app_is_active_once_the_bank_accepts(app_client, world):
    _app, client = app_client
    acct = billing_account(world, "mobile")
    path, headers = acct.delivery, acct.headers
    resp = await client.put(
        f"{path}/bank-app", headers=headers, json={"iban": "BE68 5390 0754 7034"}
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "pending_bank_acceptance"
    assert body["iban"] == "BE68********7034"
    reference = body["reference"]
    assert world.bank.invitations == [(acct.id, reference)]

    decision = {"billing_account_id": str(acct.id), "decision": "accepted", "reference": reference}
    raw, good = signed(decision)
    _, bad = signed(decision, secret="wrong")
    cb = "/v1/bank-app/callbacks"
    assert (await client.post(cb, content=raw, headers=bad)).status_code == 401
    assert (
        await client.post(cb, content=raw, headers={"content-type": "application/json"})
    ).status_code == 401
    assert (await client.get(path, headers=headers)).json()["status"] == "pending_bank_acceptance"

    resp = await client.post(cb, content=raw, headers=good)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "active"
    assert resp.json()["effective_from_period"] == domain.period_of(utcnow())
    assert (await client.post(cb, content=raw, headers=good)).status_code == 200  # retried
    raw_refuse, refuse_headers = signed({**decision, "decision": "refused"})
    assert (await client.post(cb, content=raw_refuse, headers=refuse_headers)).status_code == 409
    raw_other, other_headers = signed({**decision, "reference": "nope"})
    assert (await client.post(cb, content=raw_other, headers=other_headers)).status_code == 404

    view = (await client.get(path, headers=headers)).json()
    assert (view["channel"], view["status"]) == ("bank_app", "active")
    assert "BE68539007547034" not in json.dumps(view)


async def test_bank_refusal_leaves_paper(app_client, world):
    _app, client = app_client
    acct = billing_account(world, "fixed")
    path, headers = acct.delivery, acct.headers
    reference = (
        await client.put(f"{path}/bank-app", headers=headers, json={"iban": "BE71096123456769"})
    ).json()["reference"]
    raw, sig = signed(
        {"billing_account_id": str(acct.id), "decision": "refused", "reference": reference}
    )
    resp = await client.post("/v1/bank-app/callbacks", content=raw, headers=sig)
    assert resp.status_code == 200 and resp.json()["status"] == "refused"
    view = (await client.get(path, headers=headers)).json()
    assert (view["channel"], view["status"]) == ("bank_app", "refused")
    assert view["in_force"]["channel"] == "paper"


async def test_bank_callback_with_bad_body_is_422_after_the_signature(app_client):
    _app, client = app_client
    raw, sig = signed({"billing_account_id": "nope", "decision": "maybe"})
    resp = await client.post("/v1/bank-app/callbacks", content=raw, headers=sig)
    assert resp.status_code == 422
    raw = b"{not json"
    sig = {"X-Bank-Signature": domain.bank_signature(raw, SECRET)}
    assert (
        await client.post("/v1/bank-app/callbacks", content=raw, headers=sig)
    ).status_code == 400
