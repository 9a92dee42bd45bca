"""A small client of the running system and of the mail/SMS sinks.

Used by `make demo` (deploy/local/demo.py) and by the end-to-end tests.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
TOKEN_IN_LINK = re.compile(r"[?&]token=([A-Za-z0-9_\-\.~%]+)")


def eventually(probe: Callable[[], T | None], *, timeout_s: float = 30, what: str = "") -> T:
    """Poll until ``probe`` returns something truthy (the system is asynchronous)."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}: last={last!r}")


def enterprise_number() -> str:
    """A random valid Belgian enterprise number (10 digits, mod-97 check)."""
    base = random.randint(2_000_000, 19_999_999)  # first digit 0 or 1
    return f"{base:08d}{97 - base % 97:02d}"


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.be"


def unique_mobile() -> str:
    return f"+32470{random.randint(0, 999_999):06d}"


def luhn_complete(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def iccid() -> str:
    return luhn_complete("8932" + "".join(random.choice("0123456789") for _ in range(15)))


def imsi() -> str:
    return "20601" + "".join(random.choice("0123456789") for _ in range(10))


def last_month() -> str:
    now = datetime.now(UTC)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


class Sinks:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def mails(self, to: str) -> list[dict[str, Any]]:
        resp = self.http.get("/api/mails", params={"to": to})
        resp.raise_for_status()
        return [m for m in resp.json() if to in " ".join(m.get("to") or [])]

    def sms(self, to: str) -> list[dict[str, Any]]:
        resp = self.http.get("/api/sms", params={"to": to})
        resp.raise_for_status()
        return [m for m in resp.json() if m.get("to") == to]

    def wait_mail(self, to: str, count: int = 1, timeout_s: float = 40) -> list[dict[str, Any]]:
        return eventually(
            lambda: (m := self.mails(to)) and len(m) >= count and m,
            timeout_s=timeout_s,
            what=f"{count} mail(s) to {to}",
        )

    def link_token(self, mail: dict[str, Any]) -> str:
        match = TOKEN_IN_LINK.search(mail.get("text") or "")
        assert match, f"no confirmation link in mail {mail.get('subject')!r}"
        return match.group(1)


class Portal:
    """The six services as a client sees them."""

    def __init__(self, urls: dict[str, str], operator: tuple[str, str]) -> None:
        self.urls = urls
        self.operator_credentials = operator
        self.http = {name: httpx.Client(base_url=url, timeout=15) for name, url in urls.items()}

    def __getattr__(self, service: str) -> httpx.Client:
        try:
            return self.http[service]
        except KeyError:
            raise AttributeError(service) from None

    def login(self, username: str, password: str) -> str:
        resp = self.identity.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": password},
        )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    def operator(self) -> dict[str, str]:
        return bearer(self.login(*self.operator_credentials))

    def register_body(
        self, *, wants_access_owner: bool = True, locale: str = "en"
    ) -> dict[str, Any]:
        """A valid registration with unique company and people, not yet sent."""
        email = unique_email("owner")
        # Letters and a digit whatever the random part is (the password policy wants both).
        password = "Correct-Horse-7" + uuid.uuid4().hex[:8]
        body = {
            "enterprise_number": enterprise_number(),
            "company_name": "Brasserie " + uuid.uuid4().hex[:6],
            "address": {
                "street": "Rue de la Loi",
                "number": "16",
                "postal_code": "1000",
                "city": "Brussel",
                "country": "BE",
            },
            "contact_email": unique_email("contact"),
            "wants_access_owner": wants_access_owner,
            "affiliates": [],
            "registrant": {
                "email": email,
                "first_name": "An",
                "last_name": "Peeters",
                "locale": locale,
                "password": password,
            },
        }
        return {"body": body, "email": email, "password": password}

    def register(self, *, wants_access_owner: bool = True, locale: str = "en") -> dict[str, Any]:
        draft = self.register_body(wants_access_owner=wants_access_owner, locale=locale)
        resp = self.identity.post("/v1/registrations", json=draft["body"])
        assert resp.status_code == 201, resp.text
        reg = resp.json()
        assert reg["status"] == "pending"
        return {**reg, "email": draft["email"], "password": draft["password"]}

    def accept(self, registration_id: str) -> dict[str, Any]:
        resp = self.identity.post(
            f"/v1/operator/registrations/{registration_id}/accept", headers=self.operator()
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def onboard(self, sinks: Sinks, **kw: Any) -> dict[str, Any]:
        """Register, accept, confirm by the mailed link, log in."""
        reg = self.register(**kw)
        self.accept(reg["registration_id"])
        mail = sinks.wait_mail(reg["email"])[0]
        resp = self.identity.post("/v1/users/confirm", json={"token": sinks.link_token(mail)})
        assert resp.status_code == 200, resp.text
        token = self.login(reg["email"], reg["password"])
        me = self.identity.get("/v1/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        return {**reg, "token": token, "headers": bearer(token), "user_id": me.json()["user_id"]}

    def check(
        self, headers: dict[str, str], subject: str, action: str, resource: dict[str, Any]
    ) -> dict[str, Any]:
        resp = self.delegation.post(
            "/v1/check",
            headers=headers,
            json={"subject": subject, "action": action, "resource": resource},
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def usage_records(account_id: str, line: str, period: str) -> list[dict[str, Any]]:
    day = f"{period}-10T09:00:00+00:00"
    rid = uuid.uuid4().hex[:8]
    common = {"billing_account_id": account_id, "line": line, "started_at": day}
    return [
        {
            **common,
            "record_id": f"{rid}-1",
            "kind": "voice",
            "destination": "+3225551234",
            "duration_s": 300,
        },
        {
            **common,
            "record_id": f"{rid}-2",
            "kind": "sms",
            "destination": "+32470998877",
            "count": 1,
        },
        {
            **common,
            "record_id": f"{rid}-3",
            "kind": "data",
            "destination": "internet",
            "volume_bytes": 500 * 1024 * 1024,
        },
        {
            **common,
            "record_id": f"{rid}-4",
            "kind": "voice",
            "destination": "112",
            "duration_s": 120,
        },
        {
            **common,
            "record_id": f"{rid}-5",
            "kind": "voice",
            "destination": "0800 12 345",
            "duration_s": 60,
        },
    ]


def set_up_account(
    portal: Portal,
    sinks: Sinks,
    owner: dict[str, Any],
    *,
    alerts: list[str],
    active_since: str | None = None,
) -> dict[str, Any]:
    """A billing account with one SIM (active since ``active_since``, YYYY-MM-DD, or now)
    whose invoices go by e-mail, confirmed by its link."""
    op = portal.operator()
    resp = portal.billing.post(
        "/v1/operator/billing-accounts",
        headers=op,
        json={"customer_id": owner["customer_id"], "kind": "mobile", "name": "Sales team"},
    )
    assert resp.status_code == 201, resp.text
    account_id = resp.json()["billing_account_id"]

    # Fleet learns the catalogue from billing's catalogue.published: right after start-up it
    # may answer 503 (Retry-After) for a moment.
    catalogue = eventually(
        lambda: (
            (r := portal.fleet.get("/v1/catalogue", headers=owner["headers"])).status_code == 200
            and r
        ),
        timeout_s=60,
        what="fleet's catalogue (from billing's catalogue.published)",
    )
    plan = catalogue.json()["tariff_plans"][0]["code"]
    msisdn = unique_mobile()
    resp = portal.fleet.post(
        "/v1/operator/sims",
        headers=op,
        json={
            "customer_id": owner["customer_id"],
            "billing_account_id": account_id,
            "iccid": iccid(),
            "msisdn": msisdn,
            "imsi": imsi(),
            "tariff_plan": plan,
            **({"active_since": active_since} if active_since else {}),
        },
    )
    assert resp.status_code == 201, resp.text
    sim_id = resp.json()["sim_id"]

    email, mobile = unique_email("invoices"), unique_mobile()
    resp = eventually(
        lambda: (
            (
                r := portal.einvoice.put(
                    f"/v1/billing-accounts/{account_id}/delivery/email",
                    headers=owner["headers"],
                    json={"email": email, "mobile": mobile, "alerts": alerts},
                )
            ).status_code
            == 202
            and r
        ),
        what="e-mail delivery request accepted (rights propagate through Kafka)",
    )
    assert resp.json()["status"] == "pending_confirmation"
    confirmation = sinks.wait_mail(email)[0]
    resp = portal.einvoice.post(
        "/v1/delivery/email/confirm", json={"token": sinks.link_token(confirmation)}
    )
    assert resp.status_code == 200, resp.text
    delivery = portal.einvoice.get(
        f"/v1/billing-accounts/{account_id}/delivery", headers=owner["headers"]
    ).json()
    assert delivery["channel"] == "email" and delivery["status"] == "active"
    return {
        "account_id": account_id,
        "sim_id": sim_id,
        "msisdn": msisdn,
        "email": email,
        "mobile": mobile,
    }


def run_billing(portal: Portal, period: str, account_ids: list[str]) -> None:
    op = portal.operator()
    resp = portal.billing.post(
        "/v1/operator/billing-runs",
        headers=op,
        json={"period": period, "billing_account_ids": account_ids},
    )
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["run_id"]
    status = eventually(
        lambda: (
            (s := portal.billing.get(f"/v1/operator/billing-runs/{run_id}", headers=op).json())[
                "status"
            ]
            in ("done", "failed")
            and s
        ),
        timeout_s=60,
        what="billing run",
    )
    assert status["status"] == "done", status
    assert status["done_accounts"] == status["total_accounts"] == len(account_ids)


def post_calls(portal: Portal, op: dict[str, str], calls: list[tuple[str, str, str]]) -> None:
    """One national call of 90 s per (billing account, line, period), on the 5th, posted
    as usage records with the operator's headers ``op``."""
    records = [
        {
            "record_id": uuid.uuid4().hex,
            "billing_account_id": account_id,
            "line": line,
            "kind": "voice",
            "destination": "+3225550000",
            "started_at": f"{period}-05T10:00:00+00:00",
            "duration_s": 90,
        }
        for account_id, line, period in calls
    ]
    resp = portal.billing.post("/v1/operator/usage", headers=op, json={"records": records})
    assert resp.status_code == 202, resp.text


def bill_one_call_each(portal: Portal, accounts: list[dict[str, Any]]) -> None:
    """Last month's usage (one call per account), then a billing run over the accounts."""
    period = last_month()
    op = portal.operator()
    post_calls(portal, op, [(a["account_id"], a["msisdn"], period) for a in accounts])
    resp = portal.billing.post(
        "/v1/operator/billing-runs",
        headers=op,
        json={"period": period, "billing_account_ids": [a["account_id"] for a in accounts]},
    )
    assert resp.status_code == 202, resp.text
