"""With real PostgreSQL and Kafka: the customer's registered details reach billing by
``customer.registered``; a closed invoice is a legal invoice with a valid Peppol UBL
document served with the PDF's rights; objections within and after the deadline; an
accepted objection issues one credit note (PDF + UBL CreditNote), with events and mails."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from billing_peppol import PeppolValidator
from sqlalchemy import func, select

from billing.domain.calendar import Period
from billing.domain.legal import is_structured_communication
from billing.models import Customer, Invoice, Objection
from billing.service import customers
from contracts.events.identity import CustomerRegisteredV1, PostalAddressV1
from servicekit.delegation_client import Visible
from servicekit.testing import FakeDelegation, TokenFactory

from .conftest import billing_app, find_on_topic, publish, wait_consumer_assigned, wait_for
from .factories import add_sim, create_account, post_usage, usage_record

pytestmark = pytest.mark.integration

CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"


def enterprise_number() -> str:
    base = random.randrange(10**6, 10**7)  # 0 + 7 digits
    return f"0{base}{97 - (base % 97):02d}"


@dataclass
class Setup:
    app: Any
    client: Any
    customer: uuid.UUID
    enterprise_number: str
    owner: uuid.UUID
    user: dict[str, str]  # may do anything on the customer
    reader: dict[str, str]  # may read its invoices, nothing else
    other: dict[str, str]  # another customer's user
    operator: dict[str, str]
    invoice: dict[str, Any]

    async def count(self, model: Any, *where: Any) -> int:
        async with self.app.state.kit.db.transaction() as s:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)))


@asynccontextmanager
async def closed_invoice(tokens: TokenFactory, operator: dict[str, str]) -> AsyncIterator[Setup]:
    """A registered French-speaking customer with one closed invoice for last month."""
    customer, owner, reader = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def rule(subject: str, action: str, resource: Any) -> bool:
        ours = str(resource.customer_id) == str(customer)
        return ours and (
            subject == str(owner) or (subject, action) == (str(reader), "invoice.read")
        )

    delegation = FakeDelegation(rule)
    delegation.visible_map[(str(owner), "billing_account", "invoice.read")] = Visible(
        customer_ids=frozenset({str(customer)})
    )
    number = enterprise_number()
    async with billing_app(tokens, delegation) as (app, client):
        await wait_consumer_assigned(app)
        await publish(
            CustomerRegisteredV1(
                customer_id=customer,
                enterprise_number=number,
                company_name="Boulangerie Dupont SRL",
                registrant_user_id=owner,
                wants_access_owner=True,
                accepted_at=datetime.now(UTC),
                address=PostalAddressV1(
                    street="Rue de la Loi", number="16", postal_code="1000", city="Bruxelles"
                ),
                language="fr",
            )
        )
        s = Setup(
            app, client, customer, number, owner,
            user=tokens.headers(owner, customer_id=customer),
            reader=tokens.headers(reader, customer_id=customer),
            other=tokens.headers(uuid.uuid4(), customer_id=uuid.uuid4()),
            operator=operator,
            invoice={},
        )  # fmt: skip
        await wait_for(lambda: s.count(Customer, Customer.customer_id == customer))
        s.invoice = await bill_last_month(s)
        yield s


async def bill_last_month(s: Setup) -> dict[str, Any]:
    period = Period.of(datetime.now(UTC)).previous()
    account = await create_account(s.client, s.operator, customer=s.customer, name="Flotte")
    await add_sim(
        s.app.state.kit.db, account=account, customer=s.customer,
        since=period.starts_at - timedelta(days=3),
    )  # fmt: skip
    day = period.starts_at + timedelta(days=1)
    records = [
        usage_record(account, "voice", "0475123456", day, duration_s=75),
        usage_record(account, "sms", "0475123456", day, count=2),
    ]
    assert (await post_usage(s.client, s.operator, records)).status_code == 202
    r = await s.client.post(
        "/v1/operator/billing-runs",
        json={"period": str(period), "billing_account_ids": [account]},
        headers=s.operator,
    )
    run = f"/v1/operator/billing-runs/{r.json()['run_id']}"

    async def done() -> bool:
        got = (await s.client.get(run, headers=s.operator)).json()
        return got["status"] == "done"

    await wait_for(done)
    items = (await s.client.get(f"/v1/billing-accounts/{account}/invoices", headers=s.user)).json()
    r = await s.client.get(f"/v1/invoices/{items['items'][0]['invoice_id']}", headers=s.user)
    return dict(r.json())


async def test_closed_invoice_is_legal_and_has_a_valid_peppol_document(
    tokens, operator, peppol: PeppolValidator
):
    async with closed_invoice(tokens, operator) as s:
        inv = s.invoice
        assert inv["language"] == "fr" and inv["kind"] == "invoice"
        assert is_structured_communication(inv["payment_reference"])
        assert inv["objection"] is None and inv["credit_note_id"] is None
        assert {line["vat_rate"] for line in inv["lines"]} == {"21"}

        url = f"/v1/invoices/{inv['invoice_id']}/ubl"
        # einvoice's token (scope billing:invoice_ubl.read) fetches what it sends over
        # Peppol; the notifier's (PDF only) does not.
        einvoice = tokens.headers("einvoice", kind="service")
        assert (await s.client.get(url, headers=einvoice)).status_code == 200
        notifier = tokens.headers("notifier", kind="service")
        assert (await s.client.get(url, headers=notifier)).status_code == 403
        r = await s.client.get(url, headers=s.user)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/xml"
        assert peppol.errors(r.content) == []
        root = ET.fromstring(r.content)
        assert root.findtext(f"{CBC}ID") == inv["number"]
        buyer = root.find(f"{CAC}AccountingCustomerParty/{CAC}Party/{CBC}EndpointID")
        assert buyer is not None and (buyer.get("schemeID"), buyer.text) == (
            "0208",
            s.enterprise_number,
        )
        payable = root.findtext(f"{CAC}LegalMonetaryTotal/{CBC}PayableAmount")
        assert payable == inv["totals"]["total_incl_vat"]
        assert root.findtext(f"{CAC}PaymentMeans/{CBC}PaymentID") == inv["payment_reference"]

        # Same rights as the PDF: a reader may, another customer's user sees nothing.
        assert (await s.client.get(url, headers=s.reader)).status_code == 200
        assert (await s.client.get(url, headers=s.other)).status_code == 404
        assert (await s.client.get(url)).status_code == 401
        pdf = await s.client.get(f"/v1/invoices/{inv['invoice_id']}/pdf", headers=s.user)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_objection_after_the_deadline_is_refused_with_the_deadline(tokens, operator):
    async with closed_invoice(tokens, operator) as s:
        deadline = datetime.fromisoformat(s.invoice["objection_deadline"])
        after = datetime(deadline.year, deadline.month, deadline.day, 23, 30, tzinfo=UTC)
        deps = s.app.state.deps
        s.app.state.deps = replace(deps, now=lambda: after)  # 00:30 the next day in Brussels
        try:
            r = await s.client.post(
                f"/v1/invoices/{s.invoice['invoice_id']}/objections",
                json={"reason": "too late"},
                headers=s.user,
            )
        finally:
            s.app.state.deps = deps
        assert r.status_code == 409
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["objection_deadline"] == s.invoice["objection_deadline"]
        assert await s.count(Objection) == 0


async def test_accepted_objection_issues_one_credit_note_with_events_and_mails(
    tokens, operator, peppol: PeppolValidator
):
    async with closed_invoice(tokens, operator) as s:
        invoice_id = s.invoice["invoice_id"]
        url = f"/v1/invoices/{invoice_id}/objections"
        assert (await s.client.post(url, json={"reason": "x"}, headers=s.reader)).status_code == 403
        r = await s.client.post(url, json={"reason": "Roaming billed twice"}, headers=s.user)
        assert r.status_code == 201, r.text
        objection = r.json()
        assert objection["status"] == "open" and objection["invoice_id"] == invoice_id
        again = await s.client.post(url, json={"reason": "again"}, headers=s.user)
        assert again.status_code == 409

        objected = await find_on_topic("invoice.objected", lambda v: v.get("subject") == invoice_id)
        assert objected["data"]["objection_id"] == objection["objection_id"]
        assert "reason" not in objected["data"]
        shown = (await s.client.get(f"/v1/invoices/{invoice_id}", headers=s.user)).json()
        assert shown["objection"]["status"] == "open"

        listed = await s.client.get("/v1/operator/objections?status=open", headers=s.operator)
        assert objection["objection_id"] in [o["objection_id"] for o in listed.json()["items"]]
        assert (await s.client.get("/v1/operator/objections", headers=s.user)).status_code == 403

        accept = f"/v1/operator/objections/{objection['objection_id']}/accept"
        first = await s.client.post(accept, headers=s.operator)
        second = await s.client.post(accept, headers=s.operator)
        assert first.status_code == second.status_code == 200, first.text
        assert first.json()["status"] == "accepted"
        credit_note_id = first.json()["credit_note_id"]
        assert credit_note_id and second.json()["credit_note_id"] == credit_note_id
        assert await s.count(Invoice, Invoice.kind == "credit_note") == 1
        reject = f"/v1/operator/objections/{objection['objection_id']}/reject"
        assert (
            await s.client.post(reject, json={"reason": "no"}, headers=s.operator)
        ).status_code == 409

        await check_credit_note(s, credit_note_id, peppol)
        await check_mails(s, objection["objection_id"], ["received", "accepted"])


async def check_credit_note(s: Setup, credit_note_id: str, peppol: PeppolValidator) -> None:
    note = (await s.client.get(f"/v1/invoices/{credit_note_id}", headers=s.user)).json()
    assert note["kind"] == "credit_note" and note["number"].startswith("CN-")
    assert note["corrects_invoice_id"] == s.invoice["invoice_id"]
    assert note["totals"] == s.invoice["totals"]
    shown = (await s.client.get(f"/v1/invoices/{s.invoice['invoice_id']}", headers=s.user)).json()
    assert shown["objection"]["status"] == "accepted"
    assert shown["credit_note_id"] == credit_note_id
    pdf = await s.client.get(f"/v1/invoices/{credit_note_id}/pdf", headers=s.user)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    r = await s.client.get(f"/v1/invoices/{credit_note_id}/ubl", headers=s.user)
    assert r.status_code == 200 and peppol.errors(r.content) == []
    root = ET.fromstring(r.content)
    assert root.tag.endswith("}CreditNote")
    ref = f"{CAC}BillingReference/{CAC}InvoiceDocumentReference/{CBC}ID"
    assert root.findtext(ref) == s.invoice["number"]
    assert (
        await s.client.get(f"/v1/invoices/{credit_note_id}/ubl", headers=s.other)
    ).status_code == 404


async def check_mails(s: Setup, objection_id: str, steps: list[str]) -> None:
    for step in steps:
        request_id = str(uuid.uuid5(uuid.UUID(objection_id), step))
        mail = await find_on_topic(
            "notification.requested", lambda v, rid=request_id: v.get("subject") == rid
        )
        assert mail["data"]["template"] == "invoice_objection"
        assert mail["data"]["params"]["step"] == step
        assert mail["data"]["to"]["user_id"] == str(s.owner)
        assert mail["data"]["locale"] == "fr"


async def test_rejected_objection_is_mailed_with_its_reason(tokens, operator):
    async with closed_invoice(tokens, operator) as s:
        url = f"/v1/invoices/{s.invoice['invoice_id']}/objections"
        objection = (await s.client.post(url, json={"reason": "?"}, headers=s.user)).json()
        reject = f"/v1/operator/objections/{objection['objection_id']}/reject"
        assert (await s.client.post(reject, json={}, headers=s.operator)).status_code == 422
        r = await s.client.post(reject, json={"reason": "Usage is correct"}, headers=s.operator)
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        assert await s.count(Invoice, Invoice.kind == "credit_note") == 0
        await check_mails(s, objection["objection_id"], ["received", "rejected"])
        request_id = str(uuid.uuid5(uuid.UUID(objection["objection_id"]), "rejected"))
        mail = await find_on_topic(
            "notification.requested", lambda v: v.get("subject") == request_id
        )
        assert mail["data"]["params"]["reason"] == "Usage is correct"


async def test_an_older_registration_event_never_overwrites_a_newer_one(tokens):
    """customer.registered may be redelivered or replayed out of order (dead letters)."""
    customer = uuid.uuid4()
    at = datetime.now(UTC)
    newer = CustomerRegisteredV1(
        customer_id=customer,
        enterprise_number=enterprise_number(),
        company_name="Dupont & Fils SRL",
        registrant_user_id=uuid.uuid4(),
        wants_access_owner=True,
        accepted_at=at,
        address=PostalAddressV1(street="Rue Haute", number="3", postal_code="1000", city="Bxl"),
        language="fr",
    )
    older = newer.model_copy(
        update={"company_name": "Dupont SRL", "accepted_at": at - timedelta(days=1)}
    )
    async with billing_app(tokens, FakeDelegation(lambda *a: False)) as (app, _client):
        async with app.state.kit.db.transaction() as session:
            await customers.record_customer(session, newer)
        async with app.state.kit.db.transaction() as session:
            await customers.record_customer(session, older)
        async with app.state.kit.db.transaction() as session:
            row = await session.get(Customer, customer)
            assert row is not None
            assert (row.company_name, row.language) == ("Dupont & Fils SRL", "fr")
            assert row.address is not None and row.address["street"] == "Rue Haute"
