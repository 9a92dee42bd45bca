"""`make demo`: drive the access and invoice journeys against the running system
(`make run` in another terminal) and show what happened at each step."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from portal_client import (
    Portal,
    Sinks,
    eventually,
    last_month,
    run_billing,
    set_up_account,
    usage_records,
)
from stack import DEFAULT_PORTS


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    portal = Portal(
        {s: f"http://127.0.0.1:{p}" for s, p in DEFAULT_PORTS.items()},
        (
            os.environ.get("IDENTITY_OPERATOR_EMAIL", "operator@portal.local"),
            os.environ.get("IDENTITY_OPERATOR_PASSWORD", "operator-dev-password"),
        ),
    )
    sinks = Sinks(os.environ.get("SINK_URL", "http://127.0.0.1:8025"))

    step("Access journey: a company registers, the operator accepts, the registrant confirms")
    owner = portal.onboard(sinks)
    print(f"customer {owner['customer_id']}, access owner {owner['email']} logged in")
    own = {"type": "customer", "id": owner["customer_id"], "customer_id": owner["customer_id"]}
    allowed = eventually(
        lambda: (
            (d := portal.check(owner["headers"], owner["user_id"], "invoice.read", own))["allowed"]
            and d
        ),
        what="access-owner rights",
    )
    other = str(uuid.uuid4())
    denied = portal.check(
        owner["headers"],
        owner["user_id"],
        "invoice.read",
        {"type": "customer", "id": other, "customer_id": other},
    )
    print(f"invoice.read on own customer: {allowed}")
    print(f"invoice.read on another customer: {denied}")

    step("Invoice journey: billing account, SIM, e-mail delivery confirmed by its link")
    # The SIM was active on the network since the start of last month (taken over from its
    # inventory), so last month's invoice follows its plan: allowances, monthly fee.
    acct = set_up_account(
        portal, sinks, owner, alerts=["email", "sms"], active_since=f"{last_month()}-01"
    )
    print(
        f"billing account {acct['account_id']}, SIM {acct['msisdn']}, "
        f"invoices to {acct['email']} with SMS alerts to {acct['mobile']}"
    )

    period = last_month()
    step(f"Usage for {period} (a call to 112 and one to 0800 included) and a billing run")
    portal.billing.post(
        "/v1/operator/usage",
        headers=portal.operator(),
        json={"records": usage_records(acct["account_id"], acct["msisdn"], period)},
    )
    run_billing(portal, period, [acct["account_id"]])
    [item] = portal.billing.get(
        f"/v1/billing-accounts/{acct['account_id']}/invoices", headers=owner["headers"]
    ).json()["items"]
    invoice = portal.billing.get(
        f"/v1/invoices/{item['invoice_id']}", headers=owner["headers"]
    ).json()
    print(
        f"invoice {invoice['number']}: {invoice['totals']}, due {invoice['due_date']}, "
        f"objections until {invoice['objection_deadline']}"
    )
    for line in invoice["lines"]:
        print(f"  {line}")

    step("What the customer received")
    mails = sinks.wait_mail(acct["email"], count=2)
    for mail in mails:
        names = [a["filename"] for a in mail.get("attachments") or []]
        print(f"mail  '{mail['subject']}' attachments={names}")
    for sms in eventually(lambda: sinks.sms(acct["mobile"]), what="SMS alert"):
        print(f"SMS   {sms['text']}")
    print("\nSee everything at http://127.0.0.1:8025/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
