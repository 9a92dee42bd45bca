"""Invoice: billing account → SIM → e-mail delivery → usage → billing run → PDF by mail
and SMS alert, once each; free and emergency numbers appear nowhere."""

from __future__ import annotations

import csv
import io
import time
from decimal import Decimal

import pytest
from portal_client import (
    Portal,
    Sinks,
    eventually,
    last_month,
    run_billing,
    set_up_account,
    usage_records,
)

pytestmark = pytest.mark.e2e


def test_invoice_is_mailed_with_its_pdf_and_alerted_by_sms_once_each(
    portal: Portal, sinks: Sinks
) -> None:
    owner = portal.onboard(sinks)
    acct = set_up_account(portal, sinks, owner, alerts=["email", "sms"])
    period = last_month()
    resp = portal.billing.post(
        "/v1/operator/usage",
        headers=portal.operator(),
        json={"records": usage_records(acct["account_id"], acct["msisdn"], period)},
    )
    assert resp.status_code == 202, resp.text
    run_billing(portal, period, [acct["account_id"]])

    invoices = portal.billing.get(
        f"/v1/billing-accounts/{acct['account_id']}/invoices", headers=owner["headers"]
    )
    assert invoices.status_code == 200, invoices.text
    [item] = invoices.json()["items"]
    invoice = portal.billing.get(
        f"/v1/invoices/{item['invoice_id']}", headers=owner["headers"]
    ).json()
    totals = {k: Decimal(v) for k, v in invoice["totals"].items()}
    assert totals["vat"] == (totals["total_excl_vat"] * Decimal("0.21")).quantize(Decimal("0.01"))
    assert totals["total_incl_vat"] == totals["total_excl_vat"] + totals["vat"]
    assert invoice["period"] == period and invoice["objection_deadline"]

    pdf = portal.billing.get(f"/v1/invoices/{item['invoice_id']}/pdf", headers=owner["headers"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"].startswith("application/pdf")
    # The legal mentions and the Peppol document: identity's customer.registered gave
    # billing the customer's name, address, enterprise number and language.
    assert invoice["language"] == "en" and invoice["payment_reference"].startswith("+++")
    ubl = portal.billing.get(f"/v1/invoices/{item['invoice_id']}/ubl", headers=owner["headers"])
    assert ubl.status_code == 200, ubl.text
    assert ubl.headers["content-type"].startswith("application/xml")
    assert ubl.content.count(b'<cbc:EndpointID schemeID="0208">') == 2

    details = portal.billing.get(
        f"/v1/invoices/{item['invoice_id']}/usage",
        params={"format": "csv"},
        headers=owner["headers"],
    )
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


def test_another_customer_sees_nothing_of_the_first_customers_data(
    portal: Portal, sinks: Sinks
) -> None:
    owner = portal.onboard(sinks)
    stranger = portal.onboard(sinks)
    acct = set_up_account(portal, sinks, owner, alerts=["email"])
    period = last_month()
    portal.billing.post(
        "/v1/operator/usage",
        headers=portal.operator(),
        json={"records": usage_records(acct["account_id"], acct["msisdn"], period)[:1]},
    )
    run_billing(portal, period, [acct["account_id"]])
    [item] = portal.billing.get(
        f"/v1/billing-accounts/{acct['account_id']}/invoices", headers=owner["headers"]
    ).json()["items"]
    cid, sim = owner["customer_id"], acct["sim_id"]
    hidden = {
        "billing": [
            f"/v1/invoices/{item['invoice_id']}",
            f"/v1/invoices/{item['invoice_id']}/pdf",
            f"/v1/invoices/{item['invoice_id']}/usage",
            f"/v1/billing-accounts/{acct['account_id']}/invoices",
            f"/v1/billing-accounts/{acct['account_id']}/unbilled-usage",
        ],
        "einvoice": [
            f"/v1/billing-accounts/{acct['account_id']}/delivery",
            f"/v1/billing-accounts/{acct['account_id']}/deliveries",
        ],
        "fleet": [f"/v1/sims/{sim}", f"/v1/sims/{sim}/history", f"/v1/sims/{sim}/device"],
    }
    for service, paths in hidden.items():
        for path in paths:
            resp = portal.http[service].get(path, headers=stranger["headers"])
            assert resp.status_code == 404, (service, path, resp.status_code)
            # ... while the owner does see them (the 404 is about visibility, not the path)
            if not path.endswith("/device"):
                assert portal.http[service].get(path, headers=owner["headers"]).status_code == 200
    # Lists of the other customer: refused or empty, never its items.
    for service, path in (
        ("fleet", f"/v1/customers/{cid}/sims"),
        ("billing", f"/v1/customers/{cid}/billing-accounts"),
        ("identity", f"/v1/customers/{cid}/users"),
        ("delegation", f"/v1/customers/{cid}/assignments"),
    ):
        resp = portal.http[service].get(path, headers=stranger["headers"])
        assert resp.status_code in (403, 404) or resp.json()["items"] == [], (service, path)
    # Changes are refused too, and change nothing.
    plan_before = portal.fleet.get(f"/v1/sims/{sim}", headers=owner["headers"]).json()
    resp = portal.fleet.put(
        f"/v1/sims/{sim}/tariff-plan", headers=stranger["headers"], json={"tariff_plan": "SMART_L"}
    )
    assert resp.status_code == 404
    sim_now = portal.fleet.get(f"/v1/sims/{sim}", headers=owner["headers"]).json()
    assert sim_now["tariff_plan"] == plan_before["tariff_plan"]
    resp = portal.einvoice.delete(
        f"/v1/billing-accounts/{acct['account_id']}/delivery", headers=stranger["headers"]
    )
    assert resp.status_code == 404
    delivery = portal.einvoice.get(
        f"/v1/billing-accounts/{acct['account_id']}/delivery", headers=owner["headers"]
    ).json()
    assert delivery["channel"] == "email" and delivery["status"] == "active"
