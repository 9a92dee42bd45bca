"""The billing journey against real PostgreSQL (TEST_POSTGRES_URL) and Kafka."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from billing.domain.calendar import BRUSSELS, Period
from billing.models import Invoice, Sim, UsageRecord
from contracts.events.billing import UsageRecordV1
from contracts.events.fleet import SimChangedV1
from contracts.events.identity import CustomerTerminatedV1
from servicekit.delegation_client import Visible
from servicekit.testing import FakeDelegation

from .conftest import billing_app, find_on_topic, publish, wait_consumer_assigned, wait_for

pytestmark = pytest.mark.integration


def rec(account: str, kind: str, destination: str, started: datetime, **qty: int) -> dict:
    return {
        "record_id": f"cdr-{uuid.uuid4().hex}",
        "billing_account_id": account,
        "line": "+32470000001",
        "kind": kind,
        "destination": destination,
        "started_at": started.isoformat(),
        **qty,
    }


async def count(app, model, *where) -> int:
    async with app.state.kit.db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)))


async def test_usage_to_invoice_journey(tokens, operator):
    customer = uuid.uuid4()
    owner = uuid.uuid4()
    stranger = uuid.uuid4()
    delegation = FakeDelegation(
        lambda subject, action, resource: (
            subject == str(owner) and str(resource.customer_id) == str(customer)
        )
    )
    delegation.visible_map[(str(owner), "billing_account", "invoice.read")] = Visible(
        customer_ids=frozenset({str(customer)})
    )
    user = tokens.headers(owner, customer_id=customer)
    other = tokens.headers(stranger, customer_id=uuid.uuid4())
    service = tokens.headers("notifier", kind="service")

    async with billing_app(tokens, delegation) as (app, client):
        await wait_consumer_assigned(app)
        # -- account ------------------------------------------------------------
        r = await client.post(
            "/v1/operator/billing-accounts",
            json={"customer_id": str(customer), "kind": "mobile", "name": "Fleet Ghent"},
            headers=operator,
        )
        assert r.status_code == 201, r.text
        account = r.json()["billing_account_id"]
        r = await client.post(
            "/v1/operator/billing-accounts",
            json={"customer_id": str(customer), "kind": "mobile", "name": "x"},
            headers=user,
        )
        assert r.status_code == 403
        r = await client.get(f"/v1/customers/{customer}/billing-accounts", headers=user)
        assert [a["billing_account_id"] for a in r.json()["items"]] == [account]
        r = await client.get(f"/v1/customers/{customer}/billing-accounts", headers=other)
        assert r.status_code == 200 and r.json()["items"] == []
        r = await client.get(f"/v1/billing-accounts/{account}", headers=service)
        assert r.json()["status"] == "active" and r.json()["kind"] == "mobile"
        assert (
            await client.get(f"/v1/billing-accounts/{account}", headers=other)
        ).status_code == 404

        # -- a SIM from fleet (no fee in the payload: list price SMART_M + DATA_5GB) -----
        sim_id = uuid.uuid4()
        now = datetime.now(UTC)
        period = Period.of(now).previous()
        await publish(
            SimChangedV1(
                sim_id=sim_id,
                customer_id=customer,
                billing_account_id=uuid.UUID(account),
                msisdn="+32470000001",
                change="provisioned",
                tariff_plan="SMART_M",
                options=["DATA_5GB"],
                changed_at=period.starts_at - timedelta(days=3),
            )
        )
        await wait_for(lambda: count(app, Sim, Sim.sim_id == sim_id))

        # -- usage ------------------------------------------------------------------
        day = period.starts_at + timedelta(days=1)
        billed = [
            rec(account, "voice", "0475123456", day, duration_s=75),  # 0.13
            rec(account, "voice", "+33612345678", day, duration_s=120),  # 0.38
            rec(account, "sms", "0475123456", day, count=2),  # 0.16
            rec(account, "data", "internet.proximus.be", day, volume_bytes=1_500_000),  # 0.02
        ]
        excluded = [
            rec(account, "voice", "112", day, duration_s=300),
            rec(account, "voice", "+32800123456", day, duration_s=300),
            rec(account, "sms", "0800 12 345", day, count=1),
        ]
        recent = rec(account, "voice", "0475999999", now - timedelta(hours=1), duration_s=60)
        batch = [*billed, *excluded, recent]
        r = await client.post("/v1/operator/usage", json={"records": batch}, headers=operator)
        assert r.status_code == 202, r.text
        assert r.json() == {"accepted": 8, "duplicates": 0, "excluded": 3}
        r = await client.post("/v1/operator/usage", json={"records": batch}, headers=operator)
        assert r.json() == {"accepted": 0, "duplicates": 8, "excluded": 0}

        # the same feed on Kafka; an unknown account there is dead-lettered
        kafka_record = UsageRecordV1(
            record_id=f"cdr-{uuid.uuid4().hex}",
            billing_account_id=uuid.UUID(account),
            line="+32470000001",
            kind="sms",
            destination="+32475123456",
            started_at=day,
            count=1,
        )  # 0.08
        orphan = UsageRecordV1(
            record_id=f"cdr-orphan-{uuid.uuid4().hex}",
            billing_account_id=uuid.uuid4(),
            line="+32470000009",
            kind="sms",
            destination="0475123456",
            started_at=day,
            count=1,
        )
        await publish(kafka_record)
        await publish(orphan)
        await wait_for(
            lambda: count(app, UsageRecord, UsageRecord.record_id == kafka_record.record_id)
        )
        await find_on_topic(
            "dlq.billing", lambda v: v.get("data", {}).get("record_id") == orphan.record_id
        )

        # usage.rated for a billed record, never for an excluded one
        rated = await find_on_topic(
            "usage.rated", lambda v: v.get("subject") == billed[0]["record_id"]
        )
        assert rated["data"]["amount"] == "0.13" and rated["data"]["sim_id"] == str(sim_id)
        assert "destination" not in rated["data"]

        # -- unbilled view: older than 8 h, no excluded numbers -------------------------
        r = await client.get(f"/v1/billing-accounts/{account}/unbilled-usage", headers=user)
        assert r.status_code == 200, r.text
        body = r.json()
        ids = {i["record_id"] for i in body["items"]}
        assert ids == {x["record_id"] for x in billed} | {kafka_record.record_id}
        assert body["totals"]["total_excl_vat"] == "0.77"
        assert body["totals"]["by_kind"]["voice"]["amount"] == "0.51"
        r = await client.get(f"/v1/billing-accounts/{account}/unbilled-usage?limit=2", headers=user)
        assert len(r.json()["items"]) == 2 and r.json()["next_cursor"]
        r2 = await client.get(
            f"/v1/billing-accounts/{account}/unbilled-usage?limit=2&cursor={r.json()['next_cursor']}",
            headers=user,
        )
        assert not {i["record_id"] for i in r.json()["items"]} & {
            i["record_id"] for i in r2.json()["items"]
        }
        r = await client.get(f"/v1/billing-accounts/{account}/unbilled-usage", headers=other)
        assert r.status_code == 404

        # -- bad input changes nothing -------------------------------------------
        before = await count(app, UsageRecord)
        r = await client.post(
            "/v1/operator/usage",
            content=b'{"records": [',
            headers={**operator, "content-type": "application/json"},
        )
        assert r.status_code == 400
        good = rec(account, "sms", "0475123456", day, count=1)
        bad = rec(str(uuid.uuid4()), "sms", "0475123456", day, count=1)
        r = await client.post("/v1/operator/usage", json={"records": [good, bad]}, headers=operator)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "records.1.billing_account_id"
        r = await client.post(
            "/v1/operator/usage",
            json={"records": [{**good, "kind": "voice"}]},  # voice without duration_s
            headers=operator,
        )
        assert r.status_code == 422
        assert await count(app, UsageRecord) == before
        future = Period.of(now)
        r = await client.post(
            "/v1/operator/billing-runs", json={"period": str(future)}, headers=operator
        )
        assert r.status_code == 409
        r = await client.post(
            "/v1/operator/billing-runs", json={"period": "2026-13"}, headers=operator
        )
        assert r.status_code == 422

        # -- billing run ------------------------------------------------------------
        run_body = {"period": str(period), "billing_account_ids": [account]}
        r = await client.post("/v1/operator/billing-runs", json=run_body, headers=operator)
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]

        async def run_done(rid: str) -> dict | None:
            r = await client.get(f"/v1/operator/billing-runs/{rid}", headers=operator)
            return r.json() if r.json()["status"] in ("done", "failed") else None

        status = await wait_for(lambda: run_done(run_id))
        assert status == {**status, "status": "done", "done_accounts": 1, "total_accounts": 1}

        r = await client.get(f"/v1/billing-accounts/{account}/invoices", headers=user)
        items = r.json()["items"]
        assert len(items) == 1
        invoice_id = items[0]["invoice_id"]
        assert items[0]["number"].startswith(f"INV-{now.year}-")
        r = await client.get(f"/v1/invoices/{invoice_id}", headers=user)
        inv = r.json()
        for field in (
            "invoice_id", "number", "billing_account_id", "period", "issued_at", "due_date",
            "lines", "totals", "objection_deadline",
        ):  # fmt: skip
            assert field in inv
        assert inv["period"] == str(period)
        # 32.50 subscription + 0.51 voice + 0.24 sms + 0.02 data = 33.27; VAT 6.9867 -> 6.99
        assert inv["totals"] == {
            "total_excl_vat": "33.27",
            "vat": "6.99",
            "total_incl_vat": "40.26",
        }
        assert [line["category"] for line in inv["lines"]] == [
            "subscription",
            "voice",
            "sms",
            "data",
        ]
        assert inv["lines"][0]["amount_excl_vat"] == "32.50"
        issued = datetime.fromisoformat(inv["issued_at"])
        issued_local = issued.astimezone(BRUSSELS).date()
        assert inv["due_date"] == (issued_local + timedelta(days=30)).isoformat()
        assert (await client.get(f"/v1/invoices/{invoice_id}", headers=other)).status_code == 404

        # invoiced data has left the unbilled view; the recent record is still hidden
        r = await client.get(f"/v1/billing-accounts/{account}/unbilled-usage", headers=user)
        assert r.json()["items"] == []

        # PDF, for the user and for a service (the notifier)
        for headers in (user, service):
            r = await client.get(f"/v1/invoices/{invoice_id}/pdf", headers=headers)
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/pdf"
            assert r.content.startswith(b"%PDF")
        assert (
            await client.get(f"/v1/invoices/{invoice_id}/pdf", headers=other)
        ).status_code == 404

        # call details without the excluded numbers
        r = await client.get(f"/v1/invoices/{invoice_id}/usage?format=csv", headers=user)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        csv_text = r.text
        assert csv_text.count("\n") == 1 + len(billed) + 1
        for x in excluded:
            assert x["record_id"] not in csv_text
        destinations = {row["destination"] for row in csv.DictReader(io.StringIO(csv_text))}
        assert not destinations & {"112", "+32800123456", "0800 12 345"}
        assert not any(d.startswith(("0800", "+32800", "112")) for d in destinations if d)
        r = await client.get(f"/v1/invoices/{invoice_id}/usage?format=xlsx", headers=user)
        assert r.status_code == 200
        sheet = load_workbook(io.BytesIO(r.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert len(rows) == 1 + len(billed) + 1
        assert not any(row[4] in ("112", "+32800123456", "0800 12 345") for row in rows)
        r = await client.get(f"/v1/invoices/{invoice_id}/usage", headers=user)
        assert len(r.json()["items"]) == len(billed) + 1

        # invoice.closed on Kafka
        closed = await find_on_topic(
            "invoice.closed", lambda v: v.get("data", {}).get("invoice_id") == invoice_id
        )
        assert closed["data"]["totals"]["total_incl_vat"] == "40.26"
        assert closed["data"]["customer_id"] == str(customer)

        # a second run for the same period: still one invoice
        r = await client.post("/v1/operator/billing-runs", json=run_body, headers=operator)
        status = await wait_for(lambda: run_done(r.json()["run_id"]))
        assert status["status"] == "done"
        assert await count(app, Invoice, Invoice.billing_account_id == uuid.UUID(account)) == 1

        # objections: open within the deadline, 409 after it
        r = await client.post(
            f"/v1/invoices/{invoice_id}/objections", json={"reason": "wrong"}, headers=other
        )
        assert r.status_code == 404
        r = await client.post(
            f"/v1/invoices/{invoice_id}/objections",
            json={"reason": "I did not call France"},
            headers=user,
        )
        assert r.status_code == 201, r.text
        deps = app.state.deps
        deadline = datetime.fromisoformat(inv["objection_deadline"])
        app.state.deps = replace(
            deps,
            now=lambda: datetime(deadline.year, deadline.month, deadline.day, 23, 30, tzinfo=UTC),
        )
        try:
            r = await client.post(
                f"/v1/invoices/{invoice_id}/objections", json={"reason": "late"}, headers=user
            )
            assert r.status_code == 409
        finally:
            app.state.deps = deps

        # insights see the closed period only
        r = await client.get(
            f"/v1/customers/{customer}/insights?from={period}&to={period}", headers=user
        )
        assert r.status_code == 200, r.text
        ins = r.json()
        assert ins["totals"]["total_incl_vat"] == "40.26"
        assert ins["top_consumers"][0] == {"line": "+32470000001", "amount": "0.77"}
        assert {c["category"] for c in ins["by_category"]} == {
            "subscription",
            "voice",
            "sms",
            "data",
        }

        # customer terminated: accounts closed, the customer's users no longer see them
        await publish(
            CustomerTerminatedV1(
                customer_id=customer,
                by="customer",
                effective_on=now.date(),
                terminated_at=now,
            )
        )

        async def terminated() -> bool:
            r = await client.get(f"/v1/billing-accounts/{account}", headers=operator)
            return r.json()["status"] == "terminated"

        await wait_for(terminated)
        assert (await client.get(f"/v1/invoices/{invoice_id}", headers=user)).status_code == 404
        assert Decimal(inv["totals"]["vat"]) == Decimal("6.99")
