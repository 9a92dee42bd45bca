"""The Peppol channel: chosen with the rights of the other channels, active at once;
closed invoices are queued and sent by a job, as billing's UBL document, to the
customer's participant through the access point (a recording fake at the edge)."""

from __future__ import annotations

import tempfile
import uuid

import pytest
from sqlalchemy import select

from einvoice import service
from einvoice.models import PeppolDelivery
from einvoice.settings import EinvoiceSettings

from ..factories import billing_account, closed_invoice
from .support import events

UBL = b"""<?xml version='1.0' encoding='UTF-8'?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:ID>INV-2026-000001</cbc:ID>
<cac:AccountingSupplierParty><cac:Party><cbc:EndpointID schemeID="0208">0202239951</cbc:EndpointID>
</cac:Party></cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cbc:EndpointID schemeID="0208">0403170701</cbc:EndpointID>
</cac:Party></cac:AccountingCustomerParty>
</Invoice>"""


@pytest.fixture
async def app_client(run_app):
    folder = tempfile.mkdtemp(prefix="einvoice-unit-")
    settings = EinvoiceSettings(
        database_url=f"sqlite+aiosqlite:///{folder}/einvoice.db",
        relay_enabled=False,
        consumer_enabled=False,
        expiry_job_interval_s=3600,
        bank_poll_interval_s=3600,
        peppol_poll_interval_s=3600,  # the tests run the Peppol-delivery job themselves
        peppol_retry_initial_s=0,
    )
    async with run_app(settings) as (app, client):
        yield app, client


async def send_due(app) -> int:  # type: ignore[no-untyped-def]
    async with app.state.kit.db.transaction() as session:
        return await service.send_due_to_peppol(session, app.state.deps)


async def deliver(app, inv) -> None:  # type: ignore[no-untyped-def]
    async with app.state.kit.db.transaction() as session:
        await service.deliver_invoice(session, app.state.deps, inv)


async def test_peppol_channel_is_chosen_with_the_channel_rights_and_active_at_once(
    app_client, world
):
    app, client = app_client
    acct = billing_account(world, "mobile")
    reader = world.user(acct.customer_id, {"invoice.read"})
    stranger = world.user(uuid.uuid4())
    url = f"{acct.delivery}/peppol"
    assert (await client.put(url, headers=reader, json={})).status_code == 403
    assert (await client.put(url, headers=stranger, json={})).status_code == 404
    bad = await client.put(url, headers=acct.headers, json={"participant": "x"})
    assert bad.status_code == 422
    assert await events(app, "einvoice.channel.changed") == []

    r = await client.put(url, headers=acct.headers, json={})
    assert r.status_code == 200, r.text
    assert r.json()["channel"] == "peppol" and r.json()["status"] == "active"
    again = await client.put(url, headers=acct.headers, json={})
    assert again.json()["request_id"] == r.json()["request_id"]
    shown = (await client.get(acct.delivery, headers=acct.headers)).json()
    assert shown["in_force"]["channel"] == "peppol"
    changed = await events(app, "einvoice.channel.changed")
    assert [(e.data["channel"], e.data["status"]) for e in changed] == [("peppol", "active")]


async def test_closed_invoice_goes_to_the_customers_participant_once(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile")
    await client.put(f"{acct.delivery}/peppol", headers=acct.headers, json={})
    inv = closed_invoice(acct.customer_id, acct.id, "mobile", "2026-11")
    world.billing.ubl[str(inv.invoice_id)] = UBL
    await deliver(app, inv)
    await deliver(app, inv)  # billing announced it twice
    assert world.access_point.sent == []  # never from the consumer's transaction

    assert await send_due(app) == 1
    assert await send_due(app) == 0
    assert world.access_point.sent == [(inv.invoice_id, "0208:0202239951", "0208:0403170701", UBL)]
    items = (await client.get(acct.deliveries, headers=acct.headers)).json()["items"]
    assert [(i["channel"], i["status"]) for i in items] == [("peppol", "handed_to_access_point")]


async def test_a_failing_access_point_or_missing_document_is_retried(app_client, world):
    app, client = app_client
    acct = billing_account(world, "mobile")
    await client.put(f"{acct.delivery}/peppol", headers=acct.headers, json={})
    inv = closed_invoice(acct.customer_id, acct.id, "mobile", "2026-11")
    await deliver(app, inv)

    assert await send_due(app) == 1  # billing has no UBL document yet
    world.billing.ubl[str(inv.invoice_id)] = UBL
    world.access_point.failures = 1
    assert await send_due(app) == 1  # the access point is down
    async with app.state.kit.db.sessions() as s:
        queued = (await s.scalars(select(PeppolDelivery))).one()
    assert queued.attempts == 2 and "ConnectionError" in (queued.last_error or "")
    assert await send_due(app) == 1
    assert [sent[0] for sent in world.access_point.sent] == [inv.invoice_id]
    async with app.state.kit.db.sessions() as s:
        assert (await s.scalars(select(PeppolDelivery))).all() == []
