"""einvoice against real PostgreSQL and Kafka: events in (invoice.closed,
customer.terminated) through the consumer and its inbox, events out through the outbox
relay. Billing, delegation and the token issuer are fakes at the edge (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select

from contracts.envelope import CloudEvent, new_event
from contracts.events.billing import InvoiceClosedV1
from contracts.events.identity import CustomerTerminatedV1
from einvoice import domain
from einvoice.models import DeliveryChannel
from einvoice.settings import EinvoiceSettings
from servicekit.db import utcnow
from servicekit.testing import fresh_database_url, running

from ..conftest import World
from ..factories import Account, billing_account, closed_invoice, email_address
from .kafka_tools import KafkaTap, publish

pytestmark = pytest.mark.integration

SECRET = "integration-bank-secret"
TOPICS = ("notification.requested", "einvoice.channel.changed")


class Stack:
    def __init__(self, app: Any, client: Any, world: World) -> None:
        self.app, self.client, self.world = app, client, world

    async def get(self, path: str, headers: dict[str, str]) -> Any:
        resp = await self.client.get(path, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def deliveries(self, account: uuid.UUID, headers: dict[str, str]) -> list[dict]:
        return (await self.get(f"/v1/billing-accounts/{account}/deliveries", headers))["items"]

    async def wait_delivery(
        self, account: uuid.UUID, invoice_id: uuid.UUID, headers: dict[str, str], timeout_s=15
    ) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout_s
        path = f"/v1/billing-accounts/{account}/deliveries"
        while asyncio.get_running_loop().time() < deadline:
            resp = await self.client.get(path, headers=headers)
            # 404 until the invoice taught einvoice the account (billing's fake doesn't know it)
            for item in resp.json()["items"] if resp.status_code == 200 else []:
                # Bank-app and Peppol deliveries are queued first, then handed over by a job.
                queued = ("queued_for_bank", "queued_for_access_point")
                if item["invoice_id"] == str(invoice_id) and item["status"] not in queued:
                    return item
            await asyncio.sleep(0.1)
        raise AssertionError(f"invoice {invoice_id} was not delivered")

    async def consumer_reads(self, customer: uuid.UUID, headers: dict[str, str]) -> None:
        """A fresh group starts at the end of the topic: make sure the partition of this
        customer's events is being read before the test publishes what it asserts on."""
        for _ in range(20):
            account = uuid.uuid4()
            invoice = closed_invoice(customer, account, "mobile", "2026-10", total_excl_vat="50.00")
            await publish(event_of(invoice), key=str(customer))
            try:
                await self.wait_delivery(account, invoice.invoice_id, headers, timeout_s=2)
                return
            except AssertionError:
                continue
        raise AssertionError("the consumer never picked up this customer's partition")


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    world = World()
    settings = EinvoiceSettings(
        database_url=await fresh_database_url("einvoice"),
        consumer_group=f"einvoice-test-{uuid.uuid4().hex[:8]}",
        consumer_offset_reset="latest",
        consumer_backoff_initial_s=0.05,
        consumer_backoff_max_s=0.5,
        relay_poll_interval_s=0.1,
        bank_callback_secret=SECRET,
        expiry_job_interval_s=0.2,
        public_url="https://portal.example",
    )
    app = world.app(settings)
    async with running(app) as client:
        kit = app.state.kit
        for _ in range(150):
            if kit.consumer is not None and kit.consumer.assigned:
                break
            await asyncio.sleep(0.1)
        assert kit.consumer is not None and kit.consumer.assigned
        yield Stack(app, client, world)


def event_of(payload: Any) -> CloudEvent:
    return new_event(payload, source="/services/billing")


def for_customer(customer: uuid.UUID, topic: str, **fields: Any):
    def match(event: CloudEvent) -> bool:
        return (
            event.type == topic
            and event.data.get("customer_id") == str(customer)
            and all(event.data.get(k) == v for k, v in fields.items())
        )

    return match


async def choose_email_for_the_fixed_accounts(
    stack: Stack, tap: KafkaTap, hq: Account, branch: Account, address: str
) -> str:
    """E-mail chosen on one fixed account: one confirmation mail, a pending event for
    each fixed account, no link in them. Returns the confirmation token."""
    resp = await stack.client.put(
        f"{hq.delivery}/email",
        headers=hq.headers,
        json={
            "email": address,
            "mobile": "+32470123456",
            "alerts": ["email", "sms"],
            "locale": "en",
        },
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "pending_confirmation"

    customer = hq.customer_id
    [confirmation] = await tap.wait_for(
        for_customer(customer, "notification.requested", template="einvoice_email_confirmation")
    )
    assert confirmation.data["to"]["email"] == address
    assert confirmation.data["params"]["billing_account_name"] == "HQ"
    url = confirmation.data["params"]["confirm_url"]
    assert url.startswith("https://portal.example/v1/delivery/email/confirm?token=")
    token = parse_qs(urlparse(url).query)["token"][0]
    pending = await tap.wait_for(
        for_customer(customer, "einvoice.channel.changed", status="pending_confirmation"), count=2
    )
    assert {e.data["billing_account_id"] for e in pending} == {str(hq.id), str(branch.id)}
    assert token not in json.dumps([e.data for e in pending])  # no links on public events
    return token


async def confirm_for_the_fixed_accounts(
    stack: Stack, tap: KafkaTap, token: str, branch: Account
) -> None:
    resp = await stack.client.post("/v1/delivery/email/confirm", json={"token": token})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "active"
    view = await stack.get(branch.delivery, branch.headers)
    assert (view["channel"], view["status"]) == ("email", "active")
    await tap.wait_for(
        for_customer(branch.customer_id, "einvoice.channel.changed", status="active"), count=2
    )


async def publish_one_invoice_three_times(
    stack: Stack, tap: KafkaTap, hq: Account, branch: Account
) -> InvoiceClosedV1:
    """The same event twice, and the same invoice in a new event (billing announcing it
    twice); returns once everything published has been handled."""
    customer = hq.customer_id
    await stack.consumer_reads(customer, hq.headers)
    invoice = closed_invoice(customer, hq.id, "fixed", "2026-10", total_excl_vat="50.00")
    event = event_of(invoice)
    await publish(event, event, event_of(invoice), key=str(customer))
    sentinel = closed_invoice(customer, branch.id, "fixed", "2026-10", total_excl_vat="50.00")
    await publish(event_of(sentinel), key=str(customer))

    # Same partition, in order: once the sentinel is delivered, so are the others.
    await stack.wait_delivery(branch.id, sentinel.invoice_id, hq.headers)
    await tap.wait_for(
        lambda e: (
            e.type == "notification.requested"
            and any(a["invoice_id"] == str(sentinel.invoice_id) for a in e.data["attachments"])
        )
    )
    await asyncio.sleep(0.5)  # anything extra the relay would publish comes now
    await tap._poll()
    return invoice


def assert_one_mail_and_one_sms(tap: KafkaTap, customer: uuid.UUID, invoice: InvoiceClosedV1):
    mails = tap.matching(
        lambda e: (
            e.type == "notification.requested"
            and e.data["attachments"]
            == [{"kind": "invoice_pdf", "invoice_id": str(invoice.invoice_id)}]
        )
    )
    assert len(mails) == 1
    [mail] = mails
    assert mail.data["template"] == "invoice_available" and mail.data["locale"] == "en"
    assert mail.data["params"]["invoice_number"] == invoice.number
    assert mail.data["params"]["total_incl_vat"] == "60.50"
    sms = tap.matching(
        for_customer(
            customer,
            "notification.requested",
            channel="sms",
            request_id=str(domain.notification_request_id(invoice.invoice_id, "sms")),
        )
    )
    assert len(sms) == 1 and sms[0].data["to"]["mobile"] == "+32470123456"


async def test_email_delivery_end_to_end_once_per_invoice(stack: Stack):
    world = stack.world
    hq = billing_account(world, "fixed", name="HQ")
    branch = billing_account(world, "fixed", customer_id=hq.customer_id)
    await stack.get(branch.delivery, hq.headers)  # known beforehand

    async with KafkaTap(*TOPICS) as tap:
        token = await choose_email_for_the_fixed_accounts(stack, tap, hq, branch, email_address())
        await confirm_for_the_fixed_accounts(stack, tap, token, branch)
        invoice = await publish_one_invoice_three_times(stack, tap, hq, branch)
        assert_one_mail_and_one_sms(tap, hq.customer_id, invoice)

    items = await stack.deliveries(hq.id, hq.headers)
    assert [(i["invoice_id"], i["channel"]) for i in items] == [(str(invoice.invoice_id), "email")]


async def test_paper_account_gets_its_invoice_queued_for_print(stack: Stack):
    acct = billing_account(stack.world, "mobile")
    customer, account, headers = acct.customer_id, acct.id, acct.headers
    await stack.consumer_reads(customer, headers)
    async with KafkaTap("notification.requested") as tap:
        invoice = closed_invoice(customer, account, "mobile", "2026-10", total_excl_vat="50.00")
        await publish(event_of(invoice), key=str(customer))
        item = await stack.wait_delivery(account, invoice.invoice_id, headers)
        assert (item["channel"], item["status"]) == ("paper", "queued_for_print")
        await asyncio.sleep(0.5)
        await tap._poll()
        assert tap.matching(for_customer(customer, "notification.requested")) == []


async def count_channels(stack: Stack, account: uuid.UUID) -> int:
    async with stack.app.state.kit.db.sessions() as s:
        stmt = select(func.count()).where(DeliveryChannel.billing_account_id == account)
        return int((await s.execute(stmt)).scalar() or 0)


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("bank-app", {"iban": "BE68539007547035"}),
        ("email", {"email": "ap@example.com", "alerts": ["email", "sms"]}),
        ("email", {"email": "ap@example.com", "alerts": ["email"], "cc": "x@example.com"}),
    ],
)
async def test_bad_input_is_422_and_nothing_is_written(stack: Stack, route, body):
    acct = billing_account(stack.world, "mobile")
    account, headers = acct.id, acct.headers
    resp = await stack.client.put(
        f"/v1/billing-accounts/{account}/delivery/{route}", headers=headers, json=body
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"]
    assert await count_channels(stack, account) == 0
    view = await stack.get(f"/v1/billing-accounts/{account}/delivery", headers)
    assert view["channel"] == "paper"


async def test_another_customers_account_is_404(stack: Stack):
    account = billing_account(stack.world, "fixed").id
    theirs = stack.world.user(uuid.uuid4())
    base = f"/v1/billing-accounts/{account}"
    client = stack.client
    assert (await client.get(f"{base}/delivery", headers=theirs)).status_code == 404
    assert (await client.get(f"{base}/deliveries", headers=theirs)).status_code == 404
    resp = await client.put(
        f"{base}/delivery/email", headers=theirs, json={"email": email_address()}
    )
    assert resp.status_code == 404
    resp = await client.put(
        f"{base}/delivery/bank-app", headers=theirs, json={"iban": "BE68539007547034"}
    )
    assert resp.status_code == 404
    assert (await client.delete(f"{base}/delivery", headers=theirs)).status_code == 404
    assert await count_channels(stack, account) == 0


async def test_bank_app_accepted_by_the_bank_receives_the_next_invoice(stack: Stack):
    world, client = stack.world, stack.client
    acct = billing_account(world, "mobile")
    customer, account, headers = acct.customer_id, acct.id, acct.headers
    async with KafkaTap("einvoice.channel.changed") as tap:
        resp = await client.put(
            f"/v1/billing-accounts/{account}/delivery/bank-app",
            headers=headers,
            json={"iban": "BE68 5390 0754 7034"},
        )
        assert resp.status_code == 202 and resp.json()["status"] == "pending_bank_acceptance"
        reference = resp.json()["reference"]
        raw = json.dumps(
            {"billing_account_id": str(account), "decision": "accepted", "reference": reference}
        ).encode()
        forged = {"X-Bank-Signature": domain.bank_signature(raw, "guess")}
        resp = await client.post("/v1/bank-app/callbacks", content=raw, headers=forged)
        assert resp.status_code == 401
        signature = {"X-Bank-Signature": domain.bank_signature(raw, SECRET)}
        resp = await client.post("/v1/bank-app/callbacks", content=raw, headers=signature)
        assert resp.status_code == 200, resp.text
        assert resp.json()["effective_from_period"] == domain.period_of(utcnow())
        changes = await tap.wait_for(
            for_customer(customer, "einvoice.channel.changed", channel="bank_app"), count=2
        )
        assert [e.data["status"] for e in changes] == ["pending_bank_acceptance", "active"]
        assert "BE68539007547034" not in json.dumps([e.data for e in changes])

    await stack.consumer_reads(customer, headers)
    invoice = closed_invoice(
        customer, account, "mobile", domain.period_of(utcnow()), total_excl_vat="50.00"
    )
    await publish(event_of(invoice), key=str(customer))
    item = await stack.wait_delivery(account, invoice.invoice_id, headers)
    assert (item["channel"], item["status"]) == ("bank_app", "handed_to_bank_adapter")
    assert (account, reference, invoice.invoice_id) in world.bank.deliveries


async def test_peppol_channel_sends_the_next_invoice_to_the_access_point(stack: Stack):
    world, client = stack.world, stack.client
    acct = billing_account(world, "mobile")
    customer, account, headers = acct.customer_id, acct.id, acct.headers
    async with KafkaTap("einvoice.channel.changed") as tap:
        resp = await client.put(
            f"/v1/billing-accounts/{account}/delivery/peppol", headers=headers, json={}
        )
        assert resp.status_code == 200 and resp.json()["status"] == "active"
        [change] = await tap.wait_for(
            for_customer(customer, "einvoice.channel.changed", channel="peppol"), count=1
        )
        assert change.data["status"] == "active"

    await stack.consumer_reads(customer, headers)
    invoice = closed_invoice(
        customer, account, "mobile", domain.period_of(utcnow()), total_excl_vat="50.00"
    )
    document = PEPPOL_DOCUMENT.replace(b"RECEIVER", b"0403170701")
    world.billing.ubl[str(invoice.invoice_id)] = document
    await publish(event_of(invoice), key=str(customer))
    item = await stack.wait_delivery(account, invoice.invoice_id, headers)
    assert (item["channel"], item["status"]) == ("peppol", "handed_to_access_point")
    sent = [s for s in world.access_point.sent if s[0] == invoice.invoice_id]
    assert sent == [(invoice.invoice_id, "0208:0202239951", "0208:0403170701", document)]


PEPPOL_DOCUMENT = b"""<?xml version='1.0' encoding='UTF-8'?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cac:AccountingSupplierParty><cac:Party><cbc:EndpointID schemeID="0208">0202239951</cbc:EndpointID>
</cac:Party></cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cbc:EndpointID schemeID="0208">RECEIVER</cbc:EndpointID>
</cac:Party></cac:AccountingCustomerParty>
</Invoice>"""


async def test_termination_cancels_the_customers_channels(stack: Stack):
    world, client = stack.world, stack.client
    acct = billing_account(world, "mobile")
    customer, account, headers = acct.customer_id, acct.id, acct.headers
    await client.put(
        f"/v1/billing-accounts/{account}/delivery/bank-app",
        headers=headers,
        json={"iban": "BE71096123456769"},
    )
    await stack.consumer_reads(customer, headers)
    async with KafkaTap("einvoice.channel.changed") as tap:
        terminated = CustomerTerminatedV1(
            customer_id=customer,
            by="customer",
            effective_on=date.today(),
            terminated_at=datetime.now(UTC),
        )
        await publish(new_event(terminated, source="/services/identity"), key=str(customer))
        [cancelled] = await tap.wait_for(
            for_customer(customer, "einvoice.channel.changed", status="cancelled")
        )
        assert cancelled.data["channel"] == "bank_app"
    view = await stack.get(f"/v1/billing-accounts/{account}/delivery", headers)
    assert view["channel"] == "paper"


async def test_the_periodic_job_expires_unconfirmed_requests(stack: Stack):
    world, client = stack.world, stack.client
    acct = billing_account(world, "mobile")
    customer, account, headers = acct.customer_id, acct.id, acct.headers
    async with KafkaTap("einvoice.channel.changed") as tap:
        resp = await client.put(
            f"/v1/billing-accounts/{account}/delivery/email",
            headers=headers,
            json={"email": email_address("robot")},
        )
        assert resp.status_code == 202
        world.now = utcnow() + timedelta(days=7, seconds=1)
        try:
            await tap.wait_for(for_customer(customer, "einvoice.channel.changed", status="expired"))
        finally:
            world.now = None
    view = await stack.get(f"/v1/billing-accounts/{account}/delivery", headers)
    assert (view["channel"], view["status"]) == ("email", "expired")


async def test_concurrent_requests_on_one_account_never_fail_with_500(stack: Stack):
    acct = billing_account(stack.world, "mobile")
    account, headers = acct.id, acct.headers
    await stack.get(f"/v1/billing-accounts/{account}/delivery", headers)
    path = f"/v1/billing-accounts/{account}/delivery/email"
    responses = await asyncio.gather(
        *(
            stack.client.put(path, headers=headers, json={"email": email_address(f"ap{i}")})
            for i in range(4)
        )
    )
    assert {r.status_code for r in responses} <= {202, 409}
    assert 202 in {r.status_code for r in responses}
    async with stack.app.state.kit.db.sessions() as s:
        stmt = select(func.count()).where(
            DeliveryChannel.billing_account_id == account,
            DeliveryChannel.status == "pending_confirmation",
        )
        assert (await s.execute(stmt)).scalar() == 1
