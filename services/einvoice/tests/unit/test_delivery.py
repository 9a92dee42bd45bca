"""Delivering closed invoices (the use case behind the invoice.closed handler), on an
embedded SQLite database; the Kafka path is in tests/integration."""

from __future__ import annotations

import tempfile
import uuid

import pytest
from sqlalchemy import select

from contracts.envelope import CloudEvent
from contracts.events.billing import InvoiceClosedV1
from einvoice import domain, service
from einvoice.models import Delivery
from einvoice.settings import EinvoiceSettings
from servicekit.db import utcnow
from servicekit.pagination import encode_cursor

from ..factories import billing_account, closed_invoice, email_address
from .support import SECRET, events, signed, token_of


@pytest.fixture
async def app_client(run_app):
    folder = tempfile.mkdtemp(prefix="einvoice-unit-")
    settings = EinvoiceSettings(
        database_url=f"sqlite+aiosqlite:///{folder}/einvoice.db",
        relay_enabled=False,
        consumer_enabled=False,
        bank_callback_secret=SECRET,
        expiry_job_interval_s=3600,
        bank_poll_interval_s=3600,  # the tests run the bank-delivery job themselves
        bank_retry_initial_s=0,
    )
    async with run_app(settings) as (app, client):
        yield app, client


async def deliver(app, inv: InvoiceClosedV1) -> None:
    async with app.state.kit.db.transaction() as session:
        await service.deliver_invoice(session, app.state.deps, inv)


async def confirm_email_channel(client, app, acct, **body) -> None:
    """Choose e-mail delivery on the account and use the confirmation link."""
    await client.put(f"{acct.delivery}/email", headers=acct.headers, json=body)
    confirmation = (await events(app, "notification.requested"))[-1]
    resp = await client.post("/v1/delivery/email/confirm", json={"token": token_of(confirmation)})
    assert resp.status_code == 200, resp.text


async def test_invoice_of_an_account_without_choice_is_queued_for_print(app_client, world):
    app, client = app_client
    customer, account = uuid.uuid4(), uuid.uuid4()  # billing never asked: the event says it all
    inv = closed_invoice(customer, account, "mobile", "2026-10")
    await deliver(app, inv)
    await deliver(app, inv)
    assert world.billing.calls == []
    resp = await client.get(
        f"/v1/billing-accounts/{account}/deliveries", headers=world.user(customer)
    )
    assert resp.status_code == 200
    [item] = resp.json()["items"]
    assert (item["channel"], item["status"]) == ("paper", "queued_for_print")
    assert item["invoice_id"] == str(inv.invoice_id) and item["period"] == "2026-10"
    assert await events(app, "notification.requested") == []


async def test_invoice_goes_by_mail_with_pdf_and_sms_once(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile", name="Fleet")
    await confirm_email_channel(
        client, app, acct, email=email_address(), mobile="+32470123456", alerts=["email", "sms"]
    )

    inv = closed_invoice(acct.customer_id, acct.id, "mobile", "2026-10")
    await deliver(app, inv)
    await deliver(app, inv)  # billing announced it twice (a new event id: no inbox help)
    sent: list[CloudEvent] = (await events(app, "notification.requested"))[1:]
    assert [e.data["channel"] for e in sent] == ["email", "sms"]
    mail, sms = sent
    assert mail.data["template"] == "invoice_available"
    assert mail.data["attachments"] == [{"kind": "invoice_pdf", "invoice_id": str(inv.invoice_id)}]
    assert mail.data["params"] == {
        "invoice_number": inv.number,
        "period": "2026-10",
        "total_incl_vat": "121.00",
        "due_date": "2026-12-20",
        "billing_account_name": "Fleet",
    }
    assert mail.data["request_id"] == str(domain.notification_request_id(inv.invoice_id, "email"))
    assert sms.data["template"] == "invoice_available_sms"
    assert sms.data["to"] == {"mobile": "+32470123456", "user_id": None, "email": None}
    resp = await client.get(acct.deliveries, headers=acct.headers)
    [item] = resp.json()["items"]
    assert item["channel"] == "email" and item["status"] == "notification_requested"
    assert item["notification_request_ids"] == [mail.data["request_id"], sms.data["request_id"]]


async def test_bank_app_delivery_starts_with_the_cycle_in_progress(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile")
    reference = (
        await client.put(
            f"{acct.delivery}/bank-app", headers=acct.headers, json={"iban": "BE68539007547034"}
        )
    ).json()["reference"]
    raw, sig = signed(
        {"billing_account_id": str(acct.id), "decision": "accepted", "reference": reference}
    )
    assert (
        await client.post("/v1/bank-app/callbacks", content=raw, headers=sig)
    ).status_code == 200

    current = domain.period_of(utcnow())
    late = closed_invoice(acct.customer_id, acct.id, "mobile", "2020-01")  # old cycle, billed late
    await deliver(app, late)
    now = closed_invoice(acct.customer_id, acct.id, "mobile", current)
    await deliver(app, now)
    await deliver(app, now)  # billing announced it twice: still one bank delivery
    assert world.bank.deliveries == []  # never called from the consumer's transaction
    assert await statuses(client, acct) == {
        str(late.invoice_id): ("paper", "queued_for_print"),
        str(now.invoice_id): ("bank_app", "queued_for_bank"),
    }
    assert await hand_to_bank(app) == 1
    assert await hand_to_bank(app) == 0
    assert (await statuses(client, acct))[str(now.invoice_id)] == (
        "bank_app",
        "handed_to_bank_adapter",
    )
    assert world.bank.deliveries == [(acct.id, reference, now.invoice_id)]


async def statuses(client, acct) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    items = (await client.get(acct.deliveries, headers=acct.headers)).json()["items"]
    return {i["invoice_id"]: (i["channel"], i["status"]) for i in items}


async def hand_to_bank(app) -> int:  # type: ignore[no-untyped-def]
    async with app.state.kit.db.transaction() as session:
        return await service.hand_due_to_bank(session, app.state.deps)


async def test_a_failing_bank_is_retried_until_the_invoice_is_handed_over(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile")
    reference = (
        await client.put(
            f"{acct.delivery}/bank-app", headers=acct.headers, json={"iban": "BE68539007547034"}
        )
    ).json()["reference"]
    raw, sig = signed(
        {"billing_account_id": str(acct.id), "decision": "accepted", "reference": reference}
    )
    await client.post("/v1/bank-app/callbacks", content=raw, headers=sig)
    invoice = closed_invoice(acct.customer_id, acct.id, "mobile", domain.period_of(utcnow()))
    await deliver(app, invoice)
    world.bank.failures = 2
    assert await hand_to_bank(app) == 1  # refused
    assert await hand_to_bank(app) == 1  # refused again (retry_initial 0: due at once)
    assert world.bank.deliveries == []
    assert await hand_to_bank(app) == 1
    assert world.bank.deliveries == [(acct.id, reference, invoice.invoice_id)]
    assert (await statuses(client, acct))[str(invoice.invoice_id)][1] == "handed_to_bank_adapter"


async def test_delivery_log_pages(app_client, world):
    app, client = app_client
    customer, account = uuid.uuid4(), uuid.uuid4()
    for month in range(1, 6):
        await deliver(app, closed_invoice(customer, account, "fixed", f"2026-0{month}"))
    headers = world.user(customer)
    path = f"/v1/billing-accounts/{account}/deliveries"
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(path, headers=headers, params=params)).json()
        seen += [i["period"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["2026-05", "2026-04", "2026-03", "2026-02", "2026-01"]
    # Not a cursor at all, or one of another list (the old hand-written position): 400.
    old_style = encode_cursor({"at": "2026-05-01T00:00:00+00:00", "id": str(uuid.uuid4())})
    for bad in ("bad!", old_style):
        resp = await client.get(path, headers=headers, params={"cursor": bad})
        assert resp.status_code == 400, bad
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["type"].endswith("invalid-cursor")
    other = world.user(uuid.uuid4())
    assert (await client.get(path, headers=other)).status_code == 404


async def test_terminated_customer_goes_back_to_paper(app_client, world):
    app, client = app_client
    fixed = billing_account(world, "fixed")
    mobile = billing_account(world, "mobile", customer_id=fixed.customer_id)
    headers = fixed.headers
    await client.put(f"{fixed.delivery}/email", headers=headers, json={"email": email_address()})
    await client.put(
        f"{mobile.delivery}/bank-app", headers=headers, json={"iban": "BE68539007547034"}
    )
    async with app.state.kit.db.transaction() as session:
        terminated = await service.terminate_customer(session, app.state.deps, fixed.customer_id)
        assert terminated == 2
    for acct in (fixed, mobile):
        view = (await client.get(acct.delivery, headers=headers)).json()
        assert view["channel"] == "paper"
    cancelled = [
        e.data["channel"]
        for e in await events(app, "einvoice.channel.changed")
        if e.data["status"] == "cancelled"
    ]
    assert sorted(cancelled) == ["bank_app", "email"]


async def test_a_fixed_account_first_seen_on_an_invoice_is_covered_by_the_customer_choice(
    app_client, world
):
    app, client = app_client
    known = billing_account(world, "fixed")
    await confirm_email_channel(client, app, known, email=email_address())

    newcomer = uuid.uuid4()
    inv = closed_invoice(known.customer_id, newcomer, "fixed", "2026-10")
    await deliver(app, inv)
    changed = [e.data for e in await events(app, "einvoice.channel.changed")]
    assert {"billing_account_id": str(newcomer), "status": "active"}.items() <= changed[-1].items()
    async with app.state.kit.db.sessions() as s:
        [row] = (
            await s.scalars(select(Delivery).where(Delivery.invoice_id == inv.invoice_id))
        ).all()
    assert row.channel == "email"
