"""Invoice: billing account → SIM → e-mail delivery → usage → billing run → PDF by mail
and SMS alert, once each; free and emergency numbers appear nowhere."""

from __future__ import annotations

import csv
import io
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from portal import Portal, Sinks, eventually, iccid, imsi, last_month, unique_email, unique_mobile

pytestmark = pytest.mark.e2e


def _usage(account_id: str, line: str, period: str) -> list[dict[str, Any]]:
    day = f"{period}-10T09:00:00+00:00"
    rid = uuid.uuid4().hex[:8]
    common = {"billing_account_id": account_id, "line": line, "started_at": day}
    return [
        {**common, "record_id": f"{rid}-1", "kind": "voice", "destination": "+3225551234",
         "duration_s": 300},
        {**common, "record_id": f"{rid}-2", "kind": "sms", "destination": "+32470998877",
         "count": 1},
        {**common, "record_id": f"{rid}-3", "kind": "data", "destination": "internet",
         "volume_bytes": 500 * 1024 * 1024},
        {**common, "record_id": f"{rid}-4", "kind": "voice", "destination": "112",
         "duration_s": 120},
        {**common, "record_id": f"{rid}-5", "kind": "voice", "destination": "0800 12 345",
         "duration_s": 60},
    ]


def set_up_account(portal: Portal, sinks: Sinks, owner: dict[str, Any], *,
                   alerts: list[str]) -> dict[str, Any]:
    op = portal.operator()
    resp = portal.billing.post("/v1/operator/billing-accounts", headers=op, json={
        "customer_id": owner["customer_id"], "kind": "mobile", "name": "Sales team"})
    assert resp.status_code == 201, resp.text
    account_id = resp.json()["billing_account_id"]

    catalogue = portal.fleet.get("/v1/catalogue", headers=owner["headers"])
    assert catalogue.status_code == 200, catalogue.text
    plan = catalogue.json()["tariff_plans"][0]["code"]
    msisdn = unique_mobile()
    resp = portal.fleet.post("/v1/operator/sims", headers=op, json={
        "customer_id": owner["customer_id"], "billing_account_id": account_id,
        "iccid": iccid(), "msisdn": msisdn, "imsi": imsi(), "tariff_plan": plan})
    assert resp.status_code == 201, resp.text

    email, mobile = unique_email("invoices"), unique_mobile()
    resp = eventually(lambda: (r := portal.einvoice.put(
        f"/v1/billing-accounts/{account_id}/delivery/email", headers=owner["headers"],
        json={"email": email, "mobile": mobile, "alerts": alerts})).status_code == 202 and r,
        what="e-mail delivery request accepted (rights propagate through Kafka)")
    assert resp.json()["status"] == "pending_confirmation"
    confirmation = sinks.wait_mail(email)[0]
    resp = portal.einvoice.post("/v1/delivery/email/confirm",
                                json={"token": sinks.link_token(confirmation)})
    assert resp.status_code == 200, resp.text
    delivery = portal.einvoice.get(f"/v1/billing-accounts/{account_id}/delivery",
                                   headers=owner["headers"]).json()
    assert delivery["channel"] == "email" and delivery["status"] == "active"
    return {"account_id": account_id, "msisdn": msisdn, "email": email, "mobile": mobile}


def run_billing(portal: Portal, period: str, account_ids: list[str]) -> None:
    op = portal.operator()
    resp = portal.billing.post("/v1/operator/billing-runs", headers=op, json={
        "period": period, "billing_account_ids": account_ids})
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["run_id"]
    status = eventually(
        lambda: (s := portal.billing.get(f"/v1/operator/billing-runs/{run_id}",
                                         headers=op).json())["status"] in ("done", "failed")
        and s,
        timeout_s=60, what="billing run")
    assert status["status"] == "done", status
    assert status["done_accounts"] == status["total_accounts"] == len(account_ids)


def test_invoice_is_mailed_with_its_pdf_and_alerted_by_sms_once_each(
    portal: Portal, sinks: Sinks
) -> None:
    owner = portal.onboard(sinks)
    acct = set_up_account(portal, sinks, owner, alerts=["email", "sms"])
    period = last_month()
    resp = portal.billing.post("/v1/operator/usage", headers=portal.operator(),
                               json={"records": _usage(acct["account_id"], acct["msisdn"], period)})
    assert resp.status_code == 202, resp.text
    run_billing(portal, period, [acct["account_id"]])

    invoices = portal.billing.get(f"/v1/billing-accounts/{acct['account_id']}/invoices",
                                  headers=owner["headers"])
    assert invoices.status_code == 200, invoices.text
    [item] = invoices.json()["items"]
    invoice = portal.billing.get(f"/v1/invoices/{item['invoice_id']}",
                                 headers=owner["headers"]).json()
    totals = {k: Decimal(v) for k, v in invoice["totals"].items()}
    assert totals["vat"] == (totals["total_excl_vat"] * Decimal("0.21")).quantize(Decimal("0.01"))
    assert totals["total_incl_vat"] == totals["total_excl_vat"] + totals["vat"]
    assert invoice["period"] == period and invoice["objection_deadline"]

    pdf = portal.billing.get(f"/v1/invoices/{item['invoice_id']}/pdf", headers=owner["headers"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"].startswith("application/pdf")

    details = portal.billing.get(f"/v1/invoices/{item['invoice_id']}/usage",
                                 params={"format": "csv"}, headers=owner["headers"])
    assert details.status_code == 200, details.text
    rows = list(csv.DictReader(io.StringIO(details.text)))
    assert len(rows) == 3  # voice, sms, data; 112 and 0800 are excluded everywhere
    everything = details.text + str(invoice)
    assert "112" not in everything.replace(item["invoice_id"], "")
    assert "0800" not in everything and "+32800" not in everything

    mails = sinks.wait_mail(acct["email"], count=2)  # confirmation + invoice
    invoice_mails = [m for m in mails if m.get("attachments")]
    assert len(invoice_mails) == 1
    [attachment] = invoice_mails[0]["attachments"]
    assert attachment["content_type"] == "application/pdf" and attachment["size"] > 500
    texts = eventually(lambda: sinks.sms(acct["mobile"]), what="SMS alert")
    time.sleep(3)  # a second copy would arrive within this window
    assert len(sinks.sms(acct["mobile"])) == len(texts) == 1
    assert len([m for m in sinks.mails(acct["email"]) if m.get("attachments")]) == 1


def test_another_customer_sees_nothing_of_the_invoice(portal: Portal, sinks: Sinks) -> None:
    owner = portal.onboard(sinks)
    stranger = portal.onboard(sinks)
    acct = set_up_account(portal, sinks, owner, alerts=["email"])
    period = last_month()
    portal.billing.post("/v1/operator/usage", headers=portal.operator(),
                        json={"records": _usage(acct["account_id"], acct["msisdn"], period)[:1]})
    run_billing(portal, period, [acct["account_id"]])
    [item] = portal.billing.get(f"/v1/billing-accounts/{acct['account_id']}/invoices",
                                headers=owner["headers"]).json()["items"]
    for path in (f"/v1/invoices/{item['invoice_id']}", f"/v1/invoices/{item['invoice_id']}/pdf",
                 f"/v1/billing-accounts/{acct['account_id']}/invoices"):
        resp = portal.billing.get(path, headers=stranger["headers"])
        assert resp.status_code == 404, (path, resp.status_code)
    resp = portal.einvoice.get(f"/v1/billing-accounts/{acct['account_id']}/delivery",
                               headers=stranger["headers"])
    assert resp.status_code == 404
