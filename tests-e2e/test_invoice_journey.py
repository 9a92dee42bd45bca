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


def test_another_customer_sees_nothing_of_the_invoice(portal: Portal, sinks: Sinks) -> None:
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
    for path in (
        f"/v1/invoices/{item['invoice_id']}",
        f"/v1/invoices/{item['invoice_id']}/pdf",
        f"/v1/billing-accounts/{acct['account_id']}/invoices",
    ):
        resp = portal.billing.get(path, headers=stranger["headers"])
        assert resp.status_code == 404, (path, resp.status_code)
    resp = portal.einvoice.get(
        f"/v1/billing-accounts/{acct['account_id']}/delivery", headers=stranger["headers"]
    )
    assert resp.status_code == 404
