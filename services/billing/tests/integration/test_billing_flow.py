"""The billing journey against real PostgreSQL (TEST_POSTGRES_URL) and Kafka: one test,
its steps in order, each step a function of the shared ``Journey``."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from billing.domain.calendar import BRUSSELS, Period
from billing.models import Invoice, Sim, UsageRecord
from contracts.events.billing import UsageRecordV1
from contracts.events.fleet import SimChangedV1
from contracts.events.identity import CustomerTerminatedV1
from servicekit.delegation_client import Visible
from servicekit.testing import FakeDelegation, TokenFactory

from .conftest import (
    billing_app,
    find_on_topic,
    publish,
    rated_on_topic,
    wait_consumer_assigned,
    wait_for,
)
from .factories import create_account, post_usage, record_id, usage_record

pytestmark = pytest.mark.integration

LINE = "+32470000001"
EXCLUDED_DESTINATIONS = {"112", "+32800123456", "0800 12 345"}


@dataclass
class Journey:
    app: Any
    client: Any
    customer: uuid.UUID
    operator: dict[str, str]
    user: dict[str, str]  # may do anything on the customer
    reader: dict[str, str]  # may read the customer's invoices, nothing else
    other: dict[str, str]  # another customer's user
    service: dict[str, str]  # the notifier
    facts_reader: dict[str, str]  # einvoice: reads billing-account facts
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    account: str = ""
    sim_id: uuid.UUID = field(default_factory=uuid.uuid4)
    billed: list[dict[str, Any]] = field(default_factory=list)
    kafka_record: UsageRecordV1 | None = None
    run_body: dict[str, Any] = field(default_factory=dict)
    invoice: dict[str, Any] = field(default_factory=dict)

    @property
    def period(self) -> Period:
        return Period.of(self.now).previous()

    @property
    def day(self) -> datetime:
        return self.period.starts_at + timedelta(days=1)

    async def count(self, model: Any, *where: Any) -> int:
        async with self.app.state.kit.db.transaction() as s:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)))

    async def outbox_empty(self) -> bool:
        """Every event billing wrote is published (the relay deletes what it published)."""
        return await self.count(self.app.state.kit.db.outbox) == 0

    async def run_done(self, run_id: str) -> dict[str, Any] | None:
        r = await self.client.get(f"/v1/operator/billing-runs/{run_id}", headers=self.operator)
        return r.json() if r.json()["status"] in ("done", "failed") else None


@asynccontextmanager
async def journey(tokens: TokenFactory, operator: dict[str, str]) -> AsyncIterator[Journey]:
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
    async with billing_app(tokens, delegation) as (app, client):
        await wait_consumer_assigned(app)
        yield Journey(
            app=app,
            client=client,
            customer=customer,
            operator=operator,
            user=tokens.headers(owner, customer_id=customer),
            reader=tokens.headers(reader, customer_id=customer),
            other=tokens.headers(uuid.uuid4(), customer_id=uuid.uuid4()),
            service=tokens.headers("notifier", kind="service"),
            facts_reader=tokens.headers("einvoice", kind="service"),
        )


async def test_usage_to_invoice_journey(tokens, operator):
    async with journey(tokens, operator) as j:
        await open_account(j)
        await provision_sim(j)
        await ingest_usage(j)
        await ingest_usage_from_kafka(j)
        await see_unbilled_usage(j)
        await refuse_bad_input(j)
        await run_billing(j)
        await read_invoice(j)
        await export_call_details(j)
        await bill_the_period_once(j)
        await object_to_invoice(j)
        await see_insights(j)
        await filter_and_export_insights(j)
        await filter_and_export_call_details(j)
        await terminate_customer(j)


async def open_account(j: Journey) -> None:
    j.account = await create_account(j.client, j.operator, customer=j.customer, name="Fleet Ghent")
    r = await j.client.post(
        "/v1/operator/billing-accounts",
        json={"customer_id": str(j.customer), "kind": "mobile", "name": "x"},
        headers=j.user,
    )
    assert r.status_code == 403
    r = await j.client.get(f"/v1/customers/{j.customer}/billing-accounts", headers=j.user)
    assert [a["billing_account_id"] for a in r.json()["items"]] == [j.account]
    # Another customer's list, of which the caller may see nothing: 404, not an empty page.
    r = await j.client.get(f"/v1/customers/{j.customer}/billing-accounts", headers=j.other)
    assert r.status_code == 404
    r = await j.client.get(f"/v1/billing-accounts/{j.account}", headers=j.facts_reader)
    assert r.json()["status"] == "active" and r.json()["kind"] == "mobile"
    # The notifier's token reads PDFs only: not the account's facts, not its invoices.
    r = await j.client.get(f"/v1/billing-accounts/{j.account}", headers=j.service)
    assert r.status_code == 403
    r = await j.client.get(f"/v1/billing-accounts/{j.account}/invoices", headers=j.service)
    assert r.status_code == 403
    r = await j.client.get(f"/v1/billing-accounts/{j.account}", headers=j.other)
    assert r.status_code == 404


async def provision_sim(j: Journey) -> None:
    """A SIM from fleet (no fee in the payload: list price SMART_M + DATA_5GB)."""
    await publish(
        SimChangedV1(
            sim_id=j.sim_id,
            customer_id=j.customer,
            billing_account_id=uuid.UUID(j.account),
            msisdn=LINE,
            change="provisioned",
            tariff_plan="SMART_M",
            options=["DATA_5GB"],
            changed_at=j.period.starts_at - timedelta(days=3),
        )
    )
    await wait_for(lambda: j.count(Sim, Sim.sim_id == j.sim_id))


async def ingest_usage(j: Journey) -> None:
    a, day = j.account, j.day
    j.billed = [
        usage_record(a, "voice", "0475123456", day, duration_s=75),  # 0.13
        usage_record(a, "voice", "+33612345678", day, duration_s=120),  # 0.38
        usage_record(a, "sms", "0475123456", day, count=2),  # 0.16
        usage_record(a, "data", "internet.proximus.be", day, volume_bytes=1_500_000),  # 0.02
    ]
    excluded = [
        usage_record(a, "voice", "112", day, duration_s=300),
        usage_record(a, "voice", "+32800123456", day, duration_s=300),
        usage_record(a, "sms", "0800 12 345", day, count=1),
    ]
    recent = usage_record(a, "voice", "0475999999", j.now - timedelta(hours=1), duration_s=60)
    batch = [*j.billed, *excluded, recent]
    r = await post_usage(j.client, j.operator, batch)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 8, "duplicates": 0, "excluded": 3}
    r = await post_usage(j.client, j.operator, batch)
    assert r.json() == {"accepted": 0, "duplicates": 8, "excluded": 0}

    # usage.rated: each kept record once, in one batch, never an excluded one
    kept = {r["record_id"] for r in [*j.billed, recent]}
    batch_event = await find_on_topic(
        "usage.rated",
        lambda v: {r["record_id"] for r in v["data"].get("records", [])} & kept != set(),
    )
    assert batch_event["dataschema"] == "urn:portal:events:usage.rated:v2"
    assert {r["record_id"] for r in batch_event["data"]["records"]} == kept
    first = next(
        r for r in batch_event["data"]["records"] if r["record_id"] == j.billed[0]["record_id"]
    )
    assert first["amount"] == "0.13" and first["sim_id"] == str(j.sim_id)
    assert all("destination" not in r for r in batch_event["data"]["records"])
    await wait_for(j.outbox_empty)
    every = [r["record_id"] for r in [*j.billed, *excluded, recent]]
    assert sorted(r["record_id"] for r in await rated_on_topic(set(every))) == sorted(kept)


def sms_record(j: Journey, rid: str) -> UsageRecordV1:
    """One national SMS on the journey's account and line, on the period's second day."""
    return UsageRecordV1(
        record_id=rid,
        billing_account_id=uuid.UUID(j.account),
        line=LINE,
        kind="sms",
        destination="+32475123456",
        started_at=j.day,
        count=1,
    )


async def ingest_usage_from_kafka(j: Journey) -> None:
    """The same feed on Kafka; an unknown account there is dead-lettered."""
    j.kafka_record = sms_record(j, record_id())  # 0.08
    orphan = UsageRecordV1(
        record_id=record_id("cdr-orphan"),
        billing_account_id=uuid.uuid4(),
        line="+32470000009",
        kind="sms",
        destination="0475123456",
        started_at=j.day,
        count=1,
    )
    await publish(j.kafka_record)
    await publish(orphan)
    await wait_for(lambda: j.count(UsageRecord, UsageRecord.record_id == j.kafka_record.record_id))
    await find_on_topic(
        "dlq.billing", lambda v: v.get("data", {}).get("record_id") == orphan.record_id
    )


async def see_unbilled_usage(j: Journey) -> None:
    """Older than 8 h, no excluded numbers, paged."""
    url = f"/v1/billing-accounts/{j.account}/unbilled-usage"
    r = await j.client.get(url, headers=j.user)
    assert r.status_code == 200, r.text
    body = r.json()
    assert j.kafka_record is not None
    expected = {x["record_id"] for x in j.billed} | {j.kafka_record.record_id}
    assert {i["record_id"] for i in body["items"]} == expected
    assert body["totals"]["total_excl_vat"] == "0.77"
    assert body["totals"]["by_kind"]["voice"]["amount"] == "0.51"
    r = await j.client.get(f"{url}?limit=2", headers=j.user)
    assert len(r.json()["items"]) == 2 and r.json()["next_cursor"]
    r2 = await j.client.get(f"{url}?limit=2&cursor={r.json()['next_cursor']}", headers=j.user)
    first, second = r.json()["items"], r2.json()["items"]
    assert not {i["record_id"] for i in first} & {i["record_id"] for i in second}
    r = await j.client.get(f"{url}?cursor=bm90LWEtY3Vyc29y", headers=j.user)
    assert r.status_code == 400 and r.json()["type"].endswith("/invalid-cursor")
    assert (await j.client.get(url, headers=j.other)).status_code == 404


async def refuse_bad_input(j: Journey) -> None:
    """Bad input changes nothing."""
    before = await j.count(UsageRecord)
    r = await j.client.post(
        "/v1/operator/usage",
        content=b'{"records": [',
        headers={**j.operator, "content-type": "application/json"},
    )
    assert r.status_code == 400
    good = usage_record(j.account, "sms", "0475123456", j.day, count=1)
    bad = usage_record(str(uuid.uuid4()), "sms", "0475123456", j.day, count=1)
    r = await post_usage(j.client, j.operator, [good, bad])
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "records.1.billing_account_id"
    r = await post_usage(j.client, j.operator, [{**good, "kind": "voice"}])  # no duration_s
    assert r.status_code == 422
    assert await j.count(UsageRecord) == before
    for period, status in ((str(Period.of(j.now)), 409), ("2026-13", 422)):
        r = await j.client.post(
            "/v1/operator/billing-runs", json={"period": period}, headers=j.operator
        )
        assert r.status_code == status


async def run_billing(j: Journey) -> None:
    j.run_body = {"period": str(j.period), "billing_account_ids": [j.account]}
    r = await j.client.post("/v1/operator/billing-runs", json=j.run_body, headers=j.operator)
    assert r.status_code == 202, r.text
    status = await wait_for(lambda: j.run_done(r.json()["run_id"]))
    assert status == {**status, "status": "done", "done_accounts": 1, "total_accounts": 1}

    r = await j.client.get(f"/v1/billing-accounts/{j.account}/invoices", headers=j.user)
    items = r.json()["items"]
    assert len(items) == 1
    assert items[0]["number"].startswith(f"INV-{j.now.year}-")
    j.invoice = {"invoice_id": items[0]["invoice_id"]}

    # invoiced data has left the unbilled view; the recent record is still hidden
    r = await j.client.get(f"/v1/billing-accounts/{j.account}/unbilled-usage", headers=j.user)
    assert r.json()["items"] == []


async def read_invoice(j: Journey) -> None:
    url = f"/v1/invoices/{j.invoice['invoice_id']}"
    inv = (await j.client.get(url, headers=j.user)).json()
    for name in (
        "invoice_id", "number", "billing_account_id", "period", "issued_at", "due_date",
        "lines", "totals", "objection_deadline",
    ):  # fmt: skip
        assert name in inv
    assert inv["period"] == str(j.period)
    # 32.50 subscription + 0.38 voice to France (beyond the national unlimited calls);
    # national calls and SMS are unlimited on Smart M, 1.5 MB is within its 25 GB:
    # 32.88, VAT 6.9048 -> 6.90
    assert inv["totals"] == {"total_excl_vat": "32.88", "vat": "6.90", "total_incl_vat": "39.78"}
    assert Decimal(inv["totals"]["vat"]) == Decimal("6.90")
    assert [line["category"] for line in inv["lines"]] == ["subscription", "voice", "sms", "data"]
    assert [line["amount_excl_vat"] for line in inv["lines"]] == ["32.50", "0.38", "0.00", "0.00"]
    issued_local = datetime.fromisoformat(inv["issued_at"]).astimezone(BRUSSELS).date()
    assert inv["due_date"] == (issued_local + timedelta(days=30)).isoformat()
    assert (await j.client.get(url, headers=j.other)).status_code == 404
    j.invoice = inv

    # PDF, for the user and for a service (the notifier)
    for headers in (j.user, j.service):
        r = await j.client.get(f"{url}/pdf", headers=headers)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF")
    assert (await j.client.get(f"{url}/pdf", headers=j.other)).status_code == 404

    # invoice.closed on Kafka
    closed = await find_on_topic(
        "invoice.closed", lambda v: v.get("data", {}).get("invoice_id") == inv["invoice_id"]
    )
    assert closed["data"]["totals"]["total_incl_vat"] == "39.78"
    assert closed["data"]["customer_id"] == str(j.customer)


async def export_call_details(j: Journey) -> None:
    """Call details without the excluded numbers."""
    url = f"/v1/invoices/{j.invoice['invoice_id']}/usage"
    r = await j.client.get(f"{url}?format=csv", headers=j.user)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.count("\n") == 1 + len(j.billed) + 1
    destinations = {row["destination"] for row in csv.DictReader(io.StringIO(r.text))}
    assert not destinations & EXCLUDED_DESTINATIONS
    assert not any(d.startswith(("0800", "+32800", "112")) for d in destinations if d)
    r = await j.client.get(f"{url}?format=xlsx", headers=j.user)
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert len(rows) == 1 + len(j.billed) + 1
    assert not any(row[4] in EXCLUDED_DESTINATIONS for row in rows)
    r = await j.client.get(url, headers=j.user)
    items = r.json()["items"]
    assert len(items) == len(j.billed) + 1
    # each record shows what the invoice charged for it: they add up to the usage lines
    usage_lines = [line for line in j.invoice["lines"] if line["category"] != "subscription"]
    assert sum(Decimal(i["amount"]) for i in items) == sum(
        Decimal(line["amount_excl_vat"]) for line in usage_lines
    )
    assert sorted(i["amount"] for i in items) == ["0.00", "0.00", "0.00", "0.00", "0.38"]
    # reading invoices is not reading call details: the reader sees the invoice (403)
    assert (await j.client.get(url, headers=j.reader)).status_code == 403
    # Each file export is in the customer's audit trail, with what was exported.
    for fmt in ("csv", "xlsx"):
        exported = await find_on_topic(
            "audit.recorded",
            lambda v, fmt=fmt: (
                v.get("data", {}).get("target", {}).get("invoice_id") == j.invoice["invoice_id"]
                and v["data"]["details"]["format"] == fmt
            ),
        )
        data = exported["data"]
        assert data["customer_id"] == str(j.customer) and data["source"] == "billing"
        assert data["action"] == "data.exported" and data["actor"]["kind"] == "user"
        assert data["details"] == {"what": "call_details", "format": fmt, "rows": len(j.billed) + 1}


async def bill_the_period_once(j: Journey) -> None:
    """A second run for the same period: still one invoice."""
    r = await j.client.post("/v1/operator/billing-runs", json=j.run_body, headers=j.operator)
    status = await wait_for(lambda: j.run_done(r.json()["run_id"]))
    assert status["status"] == "done"
    assert await j.count(Invoice, Invoice.billing_account_id == uuid.UUID(j.account)) == 1


async def object_to_invoice(j: Journey) -> None:
    """Open within the deadline, 409 after it; 404 to strangers, 403 to mere readers."""
    url = f"/v1/invoices/{j.invoice['invoice_id']}/objections"
    r = await j.client.post(url, json={"reason": "wrong"}, headers=j.other)
    assert r.status_code == 404
    r = await j.client.post(url, json={"reason": "wrong"}, headers=j.reader)
    assert r.status_code == 403
    r = await j.client.post(url, json={"reason": "I did not call France"}, headers=j.user)
    assert r.status_code == 201, r.text
    deps = j.app.state.deps
    deadline = datetime.fromisoformat(j.invoice["objection_deadline"])
    late = datetime(deadline.year, deadline.month, deadline.day, 23, 30, tzinfo=UTC)
    j.app.state.deps = replace(deps, now=lambda: late)
    try:
        r = await j.client.post(url, json={"reason": "late"}, headers=j.user)
        assert r.status_code == 409
    finally:
        j.app.state.deps = deps


async def see_insights(j: Journey) -> None:
    """Insights see the closed period only."""
    r = await j.client.get(
        f"/v1/customers/{j.customer}/insights?from={j.period}&to={j.period}", headers=j.user
    )
    assert r.status_code == 200, r.text
    ins = r.json()
    assert ins["totals"]["total_incl_vat"] == "39.78"
    assert ins["top_consumers"][0] == {"line": LINE, "amount": "0.38"}
    assert {c["category"] for c in ins["by_category"]} == {"subscription", "voice", "sms", "data"}


async def filter_and_export_insights(j: Journey) -> None:
    """A kind filter narrows the usage parts to that kind; an account filter must name an
    account the caller sees; CSV, XLSX and the PDF report carry the same selection."""
    base = f"/v1/customers/{j.customer}/insights?from={j.period}&to={j.period}"
    everything = (await j.client.get(base, headers=j.user)).json()
    sms_total = sum(
        Decimal(line["by_kind"]["sms"]["amount"])
        for line in everything["by_line"]
        if "sms" in line["by_kind"]
    )
    r = await j.client.get(f"{base}&kind=sms&billing_account_id={j.account}", headers=j.user)
    assert r.status_code == 200, r.text
    sms = r.json()
    assert {k for line in sms["by_line"] for k in line["by_kind"]} == {"sms"}
    assert [Decimal(m["amount"]) for m in sms["usage_by_month"]] == [sms_total]
    assert sms["totals"] == everything["totals"]  # invoice totals are not per kind
    for foreign in (uuid.uuid4(), await create_account(j.client, j.operator)):
        r = await j.client.get(f"{base}&billing_account_id={foreign}", headers=j.user)
        assert r.status_code == 404, r.text
    r = await j.client.get(f"{base}&zone=moon", headers=j.user)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"

    r = await j.client.get(f"{base}&format=csv", headers=j.user)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert ["By month", "period", "invoices", "total_eur_excl_vat", "vat_eur",
            "total_eur_incl_vat"] in rows  # fmt: skip
    totals = everything["totals"]
    assert ["By month", str(j.period), "1", totals["total_excl_vat"], totals["vat"],
            totals["total_incl_vat"]] in rows  # fmt: skip
    r = await j.client.get(f"{base}&format=xlsx", headers=j.user)
    sheets = load_workbook(io.BytesIO(r.content)).sheetnames
    assert sheets == ["By month", "Usage by month", "By category", "By line", "Top consumers"]
    r = await j.client.get(f"{base}&format=pdf&line={LINE}", headers=j.user)
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")

    r = await j.client.get(f"/v1/billing-accounts/{j.account}/invoices?format=csv", headers=j.user)
    (header, row) = list(csv.reader(io.StringIO(r.text)))
    assert header[0] == "number" and row[0] == j.invoice["number"]
    r = await j.client.get(f"/v1/billing-accounts/{j.account}/invoices?format=csv", headers=j.other)
    assert r.status_code == 404
    # Each file export is in the customer's audit trail.
    for what, fmt in [("insights", f) for f in ("csv", "xlsx", "pdf")] + [("invoice_list", "csv")]:
        exported = await find_on_topic(
            "audit.recorded",
            lambda v, what=what, fmt=fmt: (
                v.get("data", {}).get("customer_id") == str(j.customer)
                and v["data"]["details"].get("what") == what
                and v["data"]["details"]["format"] == fmt
            ),
        )
        assert exported["data"]["action"] == "data.exported"
        assert exported["data"]["details"]["from"] == str(j.period) or what == "invoice_list"


async def filter_and_export_call_details(j: Journey) -> None:
    url = f"/v1/invoices/{j.invoice['invoice_id']}/usage"
    every = (await j.client.get(url, headers=j.user)).json()["items"]
    r = await j.client.get(f"{url}?kind=data", headers=j.user)
    data = r.json()["items"]
    assert data and [i["record_id"] for i in data] == [
        i["record_id"] for i in every if i["kind"] == "data"
    ]
    r = await j.client.get(f"{url}?kind=data&format=csv", headers=j.user)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["record_id"] for row in rows] == [i["record_id"] for i in data]
    r = await j.client.get(f"{url}?line=%2B32999", headers=j.user)
    assert r.json()["items"] == []


async def terminate_customer(j: Journey) -> None:
    """Accounts closed; the customer's users no longer see them."""
    await publish(
        CustomerTerminatedV1(
            customer_id=j.customer, by="customer", effective_on=j.now.date(), terminated_at=j.now
        )
    )

    async def terminated() -> bool:
        r = await j.client.get(f"/v1/billing-accounts/{j.account}", headers=j.operator)
        return bool(r.json()["status"] == "terminated")

    await wait_for(terminated)
    url = f"/v1/invoices/{j.invoice['invoice_id']}"
    assert (await j.client.get(url, headers=j.user)).status_code == 404


async def test_a_usage_record_delivered_again_on_the_topic_is_stored_and_rated_once(
    tokens, operator
):
    """The same event twice (a redelivery), then the same record in a new event: one
    usage row and the record once on ``usage.rated``. Usage skips the consumer's inbox
    (ADR 29), so this is the record id's doing."""
    async with journey(tokens, operator) as j:
        await open_account(j)
        record = sms_record(j, record_id("cdr-again"))
        await publish(record, times=2)
        await publish(record)
        # Same account, so the same partition, after the repeats: once it is stored, the
        # repeats have been applied too.
        closing = record.model_copy(update={"record_id": record_id("cdr-closing")})
        await publish(closing)
        await wait_for(lambda: j.count(UsageRecord, UsageRecord.record_id == closing.record_id))
        assert await j.count(UsageRecord, UsageRecord.record_id == record.record_id) == 1
        await wait_for(j.outbox_empty)
        rated = await rated_on_topic({record.record_id, closing.record_id})
        assert sorted(r["record_id"] for r in rated) == sorted(
            [record.record_id, closing.record_id]
        )
        async with j.app.state.kit.db.sessions() as s:
            inbox = await s.scalar(
                select(func.count())
                .select_from(j.app.state.kit.db.inbox)
                .where(j.app.state.kit.db.inbox.c.topic == "usage.records")
            )
        assert inbox == 0
